"""XMP: IPTC DigitalSourceType in JPEG and PNG packets, and hostile packets."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
from synthetic_files import Array, encode_jpeg, encode_png, xmp_packet

from jikimi.detectors.synthetic.base import SourceType, parse_source_type
from jikimi.detectors.synthetic.xmp import XmpSourceTypeChecker, xmp_properties
from jikimi.domain import Evidence, EvidenceKind, Media, MediaKind, Strength
from jikimi.media import Picture
from jikimi.media.picture import Metadata

Read = Callable[[bytes], Picture]
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
checker = XmpSourceTypeChecker()


def _with_xmp(packet: str) -> Picture:
    """A picture carrying ``packet`` as its metadata (for packets no encoder would write)."""
    media = Media(kind=MediaKind.IMAGE, format="png", width=1, height=1, bytes=0, sha256="0")
    pixels = np.zeros((1, 1, 3), np.uint8)
    return Picture(media, b"", "image/png", Metadata(xmp=packet), lambda _s: pixels)


def _only(evidence: tuple[Evidence, ...]) -> Evidence:
    assert len(evidence) == 1, evidence
    return evidence[0]


def test_attribute_form_in_jpeg(small: Array, read: Read) -> None:
    attrs = f'Iptc4xmpExt:DigitalSourceType="{IPTC}trainedAlgorithmicMedia"'
    evidence = _only(checker.check(read(encode_jpeg(small, xmp=xmp_packet(attrs)))))
    assert evidence.kind is EvidenceKind.IPTC_SOURCE_TYPE
    assert evidence.strength is Strength.STRONG
    assert evidence.detail == (
        "XMP Iptc4xmpExt:DigitalSourceType declares trainedAlgorithmicMedia "
        "(made by a trained AI model)"
    )


def test_element_form_in_png_itxt(small: Array, read: Read) -> None:
    body = (
        "<Iptc4xmpExt:DigitalSourceType>"
        f"{IPTC}compositeWithTrainedAlgorithmicMedia"
        "</Iptc4xmpExt:DigitalSourceType>"
    )
    data = encode_png(small, itxt={"XML:com.adobe.xmp": xmp_packet(body=body).decode()})
    evidence = _only(checker.check(read(data)))
    assert evidence.strength is Strength.STRONG
    assert "compositeWithTrainedAlgorithmicMedia" in evidence.detail


def test_resource_form_and_other_namespace(small: Array, read: Read) -> None:
    body = f'<photoshop:DigitalSourceType rdf:resource="{IPTC}trainedAlgorithmicMedia"/>'
    evidence = _only(checker.check(read(encode_jpeg(small, xmp=xmp_packet(body=body)))))
    assert evidence.detail.startswith("XMP photoshop:DigitalSourceType declares")


def test_algorithmic_media_is_weak(small: Array, read: Read) -> None:
    attrs = f'Iptc4xmpExt:DigitalSourceType="{IPTC}algorithmicMedia"'
    evidence = _only(checker.check(read(encode_jpeg(small, xmp=xmp_packet(attrs)))))
    assert evidence.strength is Strength.WEAK
    assert evidence.kind is EvidenceKind.ALGORITHMIC_MEDIA  # its own kind: not AI


@pytest.mark.parametrize("code", ["digitalCapture", "digitalCreation", "compositeSynthetic"])
def test_other_source_types_are_not_evidence(small: Array, read: Read, code: str) -> None:
    attrs = f'Iptc4xmpExt:DigitalSourceType="{IPTC}{code}" xmp:CreatorTool="Adobe Photoshop"'
    assert checker.check(read(encode_jpeg(small, xmp=xmp_packet(attrs)))) == ()


def test_no_xmp_is_no_evidence(small: Array, read: Read) -> None:
    assert checker.check(read(encode_jpeg(small))) == ()


def test_malformed_packet_is_searched_as_text_and_moderate() -> None:
    packet = xmp_packet(f'Iptc4xmpExt:DigitalSourceType="{IPTC}trainedAlgorithmicMedia"')
    unbalanced = packet.decode().replace("</rdf:RDF>", "")
    evidence = _only(checker.check(_with_xmp(unbalanced)))
    assert evidence.strength is Strength.MODERATE
    assert "malformed" in evidence.detail


@pytest.mark.parametrize(
    "packet",
    [
        "<x:xmpmeta",  # truncated
        "\x00\x01\x02 not xml at all",
        "<a>" * 100_000,  # deep nesting, unclosed
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    ],
)
def test_garbage_packets_yield_nothing(packet: str) -> None:
    assert checker.check(_with_xmp(packet)) == ()


def test_entity_expansion_is_refused_quickly() -> None:
    lol = "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' if i else '<!ENTITY l0 "lol">' for i in range(10)
    )
    bomb = f"<!DOCTYPE x [{lol}]><x a='{IPTC}trainedAlgorithmicMedia'>&l9;</x>"
    start = time.perf_counter()
    assert xmp_properties(bomb) is None
    assert checker.check(_with_xmp(bomb)) == ()
    assert time.perf_counter() - start < 1.0


def test_deeply_nested_valid_packet_does_not_exhaust_the_stack() -> None:
    depth = 5000
    packet = "<a>" * depth + "deep" + "</a>" * depth
    properties = xmp_properties(packet)
    assert properties is not None
    assert properties[-1].value == "deep"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"{IPTC}trainedAlgorithmicMedia", SourceType.TRAINED),
        (
            "https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia/",
            SourceType.TRAINED,
        ),
        ("digsrctype:compositeWithTrainedAlgorithmicMedia", SourceType.COMPOSITE_TRAINED),
        (" algorithmicMedia ", SourceType.ALGORITHMIC),
        ("TRAINEDALGORITHMICMEDIA", SourceType.TRAINED),
        (f"{IPTC}digitalCapture", None),
        ("http://example.com/trainedAlgorithmicMedia", None),
        ("trainedAlgorithmicMedia and more", None),
        ("", None),
    ],
)
def test_source_type_forms(value: str, expected: SourceType | None) -> None:
    assert parse_source_type(value) is expected

"""The detector as the pipeline uses it, and the contract every checker keeps.

Contract: a stable unique name, built from settings, a tuple of evidence back,
nothing for a camera photo, and no exception for hostile metadata or bytes
(the detector also contains failures, but checkers must not rely on it).
"""

from __future__ import annotations

import doctest
import logging
import time
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import pytest
import skimage.data
from PIL import ExifTags, Image
from synthetic_files import (
    PHOTOS,
    TRAINED,
    Array,
    embed_watermark,
    encode_jpeg,
    encode_png,
    exif_block,
    make_chain,
    manifest,
    sign,
    xmp_packet,
)

import jikimi.detectors.synthetic as synthetic
from jikimi.config import Settings
from jikimi.detectors.synthetic import CHECKERS, Checker, SyntheticDetector
from jikimi.detectors.synthetic import base as synthetic_base
from jikimi.detectors.synthetic.watermark import SDXL
from jikimi.domain import Evidence, EvidenceKind, Media, MediaKind, Strength, SyntheticLabel
from jikimi.errors import ConfigError
from jikimi.media import Picture
from jikimi.media.picture import Metadata

Read = Callable[[bytes], Picture]


def test_public_names_do_not_drift() -> None:
    assert sorted(synthetic.__all__) == ["CHECKERS", "Checker", "SyntheticDetector"]


def test_every_registered_checker_is_built_from_settings(detector: SyntheticDetector) -> None:
    names = [c.get_name() for c in detector.checkers]
    assert names == [
        "c2pa",
        "xmp_source_type",
        "generator_metadata",
        "stealth_metadata",
        "watermark",
    ]


def test_duplicate_names_are_refused() -> None:
    checkers = [cls.from_settings(Settings()) for cls in CHECKERS]
    with pytest.raises(ConfigError, match="registered twice: c2pa"):
        SyntheticDetector([*checkers, checkers[0]])


class _Exploding(Checker):
    @classmethod
    def get_name(cls) -> str:
        return "exploding"

    def check(self, picture: Picture) -> tuple[Evidence, ...]:
        raise RuntimeError("decoder bug")


def test_a_failing_checker_costs_only_its_own_evidence(
    small: Array, read: Read, caplog: pytest.LogCaptureFixture
) -> None:
    from jikimi.detectors.synthetic.generators import GeneratorMetadataChecker

    detector = SyntheticDetector([_Exploding(), GeneratorMetadataChecker()])
    picture = read(encode_png(small, text={"Software": "Midjourney"}))
    with caplog.at_level(logging.WARNING):
        result = detector.inspect(picture)
    assert result.label is SyntheticLabel.EVIDENCE
    assert [e.kind for e in result.evidence] == [EvidenceKind.GENERATOR_METADATA]
    assert "'exploding' failed" in caplog.text


def _camera_photos() -> list[tuple[str, bytes]]:
    photos = [
        ("skimage-astronaut.png", encode_png(skimage.data.astronaut())),
        ("skimage-coffee.jpg", encode_jpeg(skimage.data.coffee())),
        (
            "canon-photoshop.jpg",
            encode_jpeg(
                skimage.data.chelsea(),
                exif=exif_block(
                    {
                        ExifTags.Base.Make: "Canon",
                        ExifTags.Base.Model: "Canon EOS R5",
                        ExifTags.Base.Software: "Adobe Photoshop 25.0 (Windows)",
                    }
                ),
                xmp=xmp_packet(
                    'xmp:CreatorTool="Adobe Photoshop 25.0 (Windows)" '
                    'photoshop:ColorMode="3" Iptc4xmpExt:DigitalSourceType='
                    '"http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"'
                ),
            ),
        ),
    ]
    photos += [(path.name, path.read_bytes()) for path in PHOTOS]
    return photos


def test_camera_photos_have_no_evidence(detector: SyntheticDetector, read: Read) -> None:
    photos = _camera_photos()
    assert len(photos) > 20
    for name, data in photos:
        result = detector.inspect(read(data))
        assert result.label is SyntheticLabel.NO_EVIDENCE, (name, result.evidence)


def test_evidence_of_every_kind_in_registration_order(
    detector: SyntheticDetector, astronaut: Array, read: Read
) -> None:
    marked = embed_watermark(astronaut, SDXL.bits)
    packet = xmp_packet(f'Iptc4xmpExt:DigitalSourceType="{TRAINED}"').decode()
    png = encode_png(
        marked,
        text={"Software": "Test Diffusion"},
        itxt={"XML:com.adobe.xmp": packet},
    )
    signed = sign(png, "image/png", make_chain(), manifest(TRAINED))
    result = detector.inspect(read(signed))
    assert [e.kind for e in result.evidence] == [
        EvidenceKind.C2PA,
        EvidenceKind.IPTC_SOURCE_TYPE,
        EvidenceKind.WATERMARK,
    ]
    assert [e.strength for e in result.evidence] == [
        Strength.STRONG,
        Strength.STRONG,
        Strength.WEAK,
    ]


def test_doctests_of_the_vocabulary() -> None:
    assert doctest.testmod(synthetic_base).failed == 0


# --- contract -------------------------------------------------------------------------


def _hostile_picture(data: bytes, mime: str) -> Picture:
    metadata = Metadata(
        text={
            "parameters": "Steps: 1, " * 5_000,
            "prompt": "{" * 10_000,
            "workflow": '{"nodes": [1, null, {"type": 7}], "links": 3}',
            "Comment": '{"uc": [], "noise_schedule": {}, "sampler": null}',
            "Software": "\ud800\x00" * 100,
            "Dream": "-s -S " * 1000,
        },
        exif={"UserComment": "\x00" * 64, "Make": "workflow:[[[", "Model": "prompt:null"},
        xmp="<x:xmpmeta><rdf:RDF><rdf:Description " + "a='b' " * 1000,
    )
    media = Media(kind=MediaKind.IMAGE, format="png", width=300, height=300, bytes=0, sha256="0")
    pixels = np.random.default_rng(1).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    return Picture(media, data, mime, metadata, lambda _s: pixels)


class CheckerContract:
    """Inherit and set ``checker_class``: every test below runs for that checker."""

    checker_class: ClassVar[type[Checker]]
    kinds: ClassVar[frozenset[EvidenceKind]]

    @pytest.fixture
    def checker(self) -> Checker:
        return self.checker_class.from_settings(Settings())

    def test_name_is_stable_snake_case(self, checker: Checker) -> None:
        name = checker.get_name()
        assert name.isidentifier() and name == name.lower()
        assert type(checker).get_name() == name

    def test_camera_photo_gives_nothing(self, checker: Checker, read: Read) -> None:
        with Image.open(PHOTOS[0]) as im:
            data = encode_jpeg(np.asarray(im.convert("RGB")))
        assert checker.check(read(data)) == ()

    @pytest.mark.parametrize(
        ("data", "mime"),
        [
            (b"", "image/png"),
            (b"\xff\xd8\xff" + bytes(range(256)) * 8, "image/jpeg"),
            (b"\x89PNG\r\n\x1a\n" + b"caBX" * 100, "image/png"),
            (b"RIFF\x00\x00\x00\x00WEBPC2PA", "image/webp"),
        ],
    )
    def test_hostile_input_never_raises(self, checker: Checker, data: bytes, mime: str) -> None:
        evidence = checker.check(_hostile_picture(data, mime))
        assert isinstance(evidence, tuple)
        assert all(isinstance(e, Evidence) and e.kind in self.kinds for e in evidence)


class TestC2paContract(CheckerContract):
    checker_class = CHECKERS[0]
    kinds = frozenset({EvidenceKind.C2PA, EvidenceKind.ALGORITHMIC_MEDIA})


class TestXmpContract(CheckerContract):
    checker_class = CHECKERS[1]
    kinds = frozenset({EvidenceKind.IPTC_SOURCE_TYPE, EvidenceKind.ALGORITHMIC_MEDIA})


class TestGeneratorContract(CheckerContract):
    checker_class = CHECKERS[2]
    kinds = frozenset({EvidenceKind.GENERATOR_METADATA})


class TestStealthContract(CheckerContract):
    checker_class = CHECKERS[3]
    kinds = frozenset({EvidenceKind.GENERATOR_METADATA})


class TestWatermarkContract(CheckerContract):
    checker_class = CHECKERS[4]
    kinds = frozenset({EvidenceKind.WATERMARK})


def test_every_registered_checker_has_a_contract_class() -> None:
    covered = {cls.checker_class for cls in CheckerContract.__subclasses__()}
    assert covered == set(CHECKERS)


def test_adversarial_metadata_costs_bounded_time(detector: SyntheticDetector) -> None:
    # Inputs built to make naive regular expressions backtrack quadratically.
    metadata = Metadata(
        text={
            "parameters": "Steps: 1, " + "a" * 19_990,
            "Dream": " -s 1" * 20_000,
            "Software": "gemini 1 " + "a" * 100_000,
            "Description": "Job ID: " * 50_000,
        },
        exif={"UserComment": "{" + '"a": ' * 100_000},
        xmp="a" * 2_000_000 + "DigitalSourceType " * 100_000,
    )
    media = Media(kind=MediaKind.IMAGE, format="png", width=64, height=64, bytes=0, sha256="0")
    pixels = np.zeros((64, 64, 3), np.uint8)
    picture = Picture(media, b"", "image/png", metadata, lambda _s: pixels)
    start = time.perf_counter()
    assert detector.inspect(picture).label is SyntheticLabel.NO_EVIDENCE
    assert time.perf_counter() - start < 2.0


def test_a_used_detector_pickles_for_worker_processes(
    detector: SyntheticDetector, small: Array, read: Read
) -> None:
    import pickle

    picture = read(encode_png(small, text={"Software": "Midjourney"}))
    before = detector.inspect(picture)  # builds the lazy C2PA context
    clone = pickle.loads(pickle.dumps(detector))
    assert clone.inspect(picture) == before

"""C2PA: manifests signed in the test by a CA generated in the test.

Covers what a scanner meets: an AI generator's signed declaration (untrusted
signer, then trusted once the test root is configured), a signed photo with no
AI declaration, a declaration whose binding broke after signing, one that only
an ingredient makes, broken manifest bytes, and files whose manifest or
certificate points at a URL (which must never be fetched).
"""

from __future__ import annotations

import http.server
import io
import threading
import time
from collections.abc import Callable, Iterator

import c2pa as c2pa_sdk
import numpy as np
import pytest
from PIL import Image
from synthetic_files import (
    CAPTURE,
    COMPOSITE,
    DIGITAL_CREATION,
    TRAINED,
    Array,
    Chain,
    encode_jpeg,
    encode_png,
    make_chain,
    manifest,
    sign,
)

from jikimi.detectors.synthetic.c2pa import C2paChecker
from jikimi.domain import EvidenceKind, Strength
from jikimi.media import Picture

Read = Callable[[bytes], Picture]


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain()


@pytest.fixture(scope="module")
def checker() -> C2paChecker:
    return C2paChecker()


@pytest.fixture(scope="module")
def jpeg(astronaut: Array) -> bytes:
    return encode_jpeg(astronaut[:256, :256])


def test_signed_ai_generation_is_strong_and_names_the_untrusted_signer(
    checker: C2paChecker, chain: Chain, jpeg: bytes, read: Read
) -> None:
    signed = sign(jpeg, "image/jpeg", chain, manifest(TRAINED, generator="Firefly Test"))
    (evidence,) = checker.check(read(signed))
    assert evidence.kind is EvidenceKind.C2PA
    assert evidence.strength is Strength.STRONG
    assert "by 'Firefly Test 2.0'" in evidence.detail
    assert "digitalSourceType trainedAlgorithmicMedia" in evidence.detail
    assert "valid signature" in evidence.detail
    assert "'Test Diffusion Service'" in evidence.detail  # the certificate's common name
    assert "not on a configured trust list" in evidence.detail


def test_configured_trust_anchor_makes_the_signer_trusted(
    chain: Chain, jpeg: bytes, read: Read
) -> None:
    signed = sign(jpeg, "image/jpeg", chain, manifest(TRAINED))
    (evidence,) = C2paChecker(trust_anchors=chain.root_pem.decode()).check(read(signed))
    assert evidence.strength is Strength.STRONG
    assert "valid signature, trusted signer" in evidence.detail
    assert "not on a configured trust list" not in evidence.detail


@pytest.mark.parametrize("label", ["c2pa.actions", "c2pa.actions.v2"])
def test_composite_declaration_in_png_either_actions_label(
    checker: C2paChecker, chain: Chain, small: Array, read: Read, label: str
) -> None:
    signed = sign(encode_png(small), "image/png", chain, manifest(COMPOSITE, label=label))
    (evidence,) = checker.check(read(signed))
    assert evidence.strength is Strength.STRONG
    assert "compositeWithTrainedAlgorithmicMedia" in evidence.detail


@pytest.mark.parametrize("source_type", [CAPTURE, DIGITAL_CREATION])
def test_signed_file_without_ai_declaration_is_no_evidence(
    checker: C2paChecker, chain: Chain, jpeg: bytes, read: Read, source_type: str
) -> None:
    # A camera's (or an editor's) manifest says nothing about AI; we do not
    # report it, because any evidence item labels the image.
    signed = sign(jpeg, "image/jpeg", chain, manifest(source_type, generator="Camera Test"))
    assert checker.check(read(signed)) == ()


def test_declaration_whose_binding_broke_is_moderate(
    checker: C2paChecker, chain: Chain, jpeg: bytes, read: Read
) -> None:
    signed = bytearray(sign(jpeg, "image/jpeg", chain, manifest(TRAINED)))
    signed[-200] ^= 0xFF  # change entropy-coded pixels after signing
    (evidence,) = checker.check(read(bytes(signed)))
    assert evidence.strength is Strength.MODERATE
    assert "validation failed" in evidence.detail
    assert "dataHash.mismatch" in evidence.detail


def test_declaration_only_in_an_ingredient_is_moderate(
    checker: C2paChecker, chain: Chain, jpeg: bytes, read: Read
) -> None:
    generated = sign(jpeg, "image/jpeg", chain, manifest(TRAINED, generator="Generator"))
    edited = sign(
        jpeg,
        "image/jpeg",
        chain,
        manifest(None, generator="Editor", action="c2pa.opened"),
        ingredient=generated,
    )
    (evidence,) = checker.check(read(edited))
    assert evidence.strength is Strength.MODERATE
    assert evidence.detail.startswith("C2PA manifest of an ingredient by 'Generator 2.0'")


def test_file_without_manifest_is_no_evidence(
    checker: C2paChecker, jpeg: bytes, read: Read
) -> None:
    assert checker.check(read(jpeg)) == ()


def test_broken_manifest_bytes_do_not_raise(
    checker: C2paChecker, chain: Chain, jpeg: bytes, read: Read
) -> None:
    signed = sign(jpeg, "image/jpeg", chain, manifest(TRAINED))
    start = signed.index(b"jumb")
    for broken in (
        signed[: start + 40] + b"\x00" * 64 + signed[start + 104 :],  # JUMBF header zeroed
        signed[:start] + bytes(range(256)) * 4 + signed[start + 1024 :],  # manifest garbage
    ):
        assert checker.check(read(broken)) == ()


def test_a_picture_without_bytes_is_skipped(checker: C2paChecker, astronaut: Array) -> None:
    from jikimi.domain import Media, MediaKind

    media = Media(kind=MediaKind.IMAGE, format="raw", width=512, height=512, bytes=0, sha256="0")
    assert checker.check(Picture.from_array(astronaut, media)) == ()


class _Listener:
    """A local HTTP server that records every request (and answers 404)."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.hits = hits
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[_Listener]:
    server = _Listener()
    yield server
    server.close()


def test_reading_never_touches_the_network(
    checker: C2paChecker, jpeg: bytes, read: Read, listener: _Listener
) -> None:
    chain = make_chain(ocsp_url=f"{listener.url}/ocsp")  # the certificate names an OCSP URL
    remote = sign(jpeg, "image/jpeg", chain, manifest(TRAINED), remote_url=f"{listener.url}/m")
    embedded = sign(jpeg, "image/jpeg", chain, manifest(TRAINED))
    assert checker.check(read(remote)) == ()  # the manifest is elsewhere: not fetched
    assert checker.check(read(embedded))[0].strength is Strength.STRONG
    time.sleep(0.2)
    assert listener.hits == []
    # Positive control: the SDK's default settings do fetch the same file's manifest,
    # so it is our offline settings that keep the scanner off the network.
    default = c2pa_sdk.Context()
    with pytest.raises(c2pa_sdk.C2paError):
        c2pa_sdk.Reader.try_create("image/jpeg", io.BytesIO(remote), None, default)
    default.close()
    deadline = time.monotonic() + 5
    while not listener.hits and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listener.hits == ["/m"]


def test_checker_survives_pickling_with_a_live_context(
    checker: C2paChecker, chain: Chain, jpeg: bytes, read: Read
) -> None:
    import pickle

    signed = read(sign(jpeg, "image/jpeg", chain, manifest(TRAINED)))
    assert checker.check(signed)
    clone = pickle.loads(pickle.dumps(checker))
    assert clone.check(signed) == checker.check(signed)


def test_unsupported_format_is_skipped(checker: C2paChecker, small: Array, read: Read) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(small)).save(buf, "BMP")
    assert checker.check(read(buf.getvalue())) == ()

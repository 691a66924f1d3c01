"""C2PA as real generators write it: AI declared without a digitalSourceType.

The manifests are signed in the test (a CA made in the test), shaped like the
real ones of the provenance corpus: Adobe Firefly's 2023 ``com.adobe.generative-ai``
assertion, Microsoft Image Creator's claim generator, Photoshop generative fill
(``c2pa.placed`` by Firefly), and the traps: CAWG training-and-mining
permissions, ``algorithmicMedia``, an AI tool that only opened a file. The same
rules hold in HEIC, AVIF and WebP files.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pillow_heif
import pytest
from PIL import Image
from synthetic_files import (
    CAPTURE,
    TRAINED,
    Array,
    Chain,
    encode_jpeg,
    encode_webp,
    make_chain,
    manifest,
    sign,
)

from jikimi.detectors.synthetic import SyntheticDetector
from jikimi.detectors.synthetic.c2pa import C2paChecker, ai_generator
from jikimi.domain import EvidenceKind, Strength, SyntheticLabel
from jikimi.media import Picture

Read = Callable[[bytes], Picture]
ALGORITHMIC = "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia"


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain()


@pytest.fixture(scope="module")
def checker() -> C2paChecker:
    return C2paChecker()


@pytest.fixture(scope="module")
def jpeg(astronaut: Array) -> bytes:
    return encode_jpeg(astronaut[:256, :256])


def _definition(
    generator: str, actions: list[dict[str, Any]], *extra: dict[str, Any]
) -> dict[str, Any]:
    """A claim of version 1, as the 2023-2024 writers made (no source type required)."""
    return {
        "claim_version": 1,
        "claim_generator_info": [{"name": generator, "version": "1.0"}],
        "title": "image",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}, *extra],
    }


def test_adobe_generative_ai_assertion_without_source_type(
    checker: C2paChecker, chain: Chain, jpeg: bytes, read: Read
) -> None:
    definition = _definition(
        "Adobe_Firefly",
        [{"action": "c2pa.created"}],
        {"label": "com.adobe.generative-ai", "data": {"description": "Adobe Firefly"}},
    )
    (evidence,) = checker.check(read(sign(jpeg, "image/jpeg", chain, definition)))
    assert (evidence.kind, evidence.strength) == (EvidenceKind.C2PA, Strength.STRONG)
    assert "carries the assertion 'com.adobe.generative-ai'" in evidence.detail
    assert "valid signature" in evidence.detail


@pytest.mark.parametrize(
    ("generator", "agent"),
    [
        ("Microsoft_Responsible_AI", "Image Creator from Designer"),
        ("Microsoft Responsible AI Image Provenance", None),
        ("Test Service", "Image Creator from Designer"),
        ("Amazon Bedrock", "Titan Image Generator G2"),
    ],
)
def test_ai_generator_identity_without_source_type(
    checker: C2paChecker, chain: Chain, jpeg: bytes, read: Read, generator: str, agent: str | None
) -> None:
    step: dict[str, Any] = {"action": "c2pa.created", "description": "AI Generated Image"}
    if agent is not None:
        step["softwareAgent"] = {"name": agent}
    signed = sign(jpeg, "image/jpeg", chain, _definition(generator, [step]))
    (evidence,) = checker.check(read(signed))
    assert (evidence.kind, evidence.strength) == (EvidenceKind.C2PA, Strength.STRONG)
    assert "the AI generator" in evidence.detail
    assert "without a digitalSourceType" in evidence.detail


def test_signature_changes_the_strength_not_the_label(
    chain: Chain, jpeg: bytes, read: Read, detector: SyntheticDetector
) -> None:
    definition = _definition(
        "Microsoft_Responsible_AI",
        [{"action": "c2pa.created", "softwareAgent": {"name": "Image Creator from Designer"}}],
    )
    signed = bytearray(sign(jpeg, "image/jpeg", chain, definition))
    signed[-200] ^= 0xFF  # pixels changed after signing
    result = detector.inspect(read(bytes(signed)))
    assert result.label is SyntheticLabel.EVIDENCE
    (evidence,) = [e for e in result.evidence if e.kind is EvidenceKind.C2PA]
    assert evidence.strength is Strength.MODERATE
    assert "validation failed" in evidence.detail


def test_generative_fill_is_a_placed_action_by_firefly(
    checker: C2paChecker, chain: Chain, jpeg: bytes, read: Read
) -> None:
    definition = _definition(
        "Adobe_Photoshop/24.7.0",
        [
            {"action": "c2pa.opened"},
            {"action": "c2pa.placed", "softwareAgent": {"name": "Adobe Firefly"}},
            {"action": "c2pa.edited", "softwareAgent": {"name": "Adobe Photoshop 24.7"}},
        ],
    )
    (evidence,) = checker.check(read(sign(jpeg, "image/jpeg", chain, definition)))
    assert evidence.strength is Strength.STRONG
    assert "records action c2pa.placed by 'Adobe Firefly' (the AI generator Adobe Firefly)" in (
        evidence.detail
    )


def test_source_type_on_placed_and_edited_actions(
    checker: C2paChecker, chain: Chain, jpeg: bytes, read: Read
) -> None:
    for action in ("c2pa.placed", "c2pa.edited"):
        step = {"action": action, "digitalSourceType": TRAINED}
        definition = _definition("Adobe Photoshop", [{"action": "c2pa.created"}, step])
        (evidence,) = checker.check(read(sign(jpeg, "image/jpeg", chain, definition)))
        assert "declares digitalSourceType trainedAlgorithmicMedia" in evidence.detail


@pytest.mark.parametrize(
    "definition",
    [
        # an AI tool that only opened or converted a file changed nothing
        _definition(
            "Editor",
            [{"action": "c2pa.converted", "softwareAgent": {"name": "Adobe Firefly"}}],
        ),
        # CAWG training-and-mining entries are permissions, not generation
        _definition(
            "Camera Test",
            [{"action": "c2pa.created", "digitalSourceType": CAPTURE}],
            {
                "label": "cawg.training-mining",
                "data": {
                    "entries": {
                        "cawg.ai_generative_training": {"use": "notAllowed"},
                        "cawg.ai_inference": {"use": "notAllowed"},
                        "cawg.ai_training": {"use": "notAllowed"},
                        "cawg.data_mining": {"use": "constrained"},
                    }
                },
            },
        ),
        # editors and cameras as claim generators
        _definition("Adobe_Photoshop/26.8.1 adobe_c2pa/0.12", [{"action": "c2pa.edited"}]),
        _definition("Affinity Designer", [{"action": "c2pa.created"}]),
        _definition("Nikon_Z_9", [{"action": "c2pa.created"}]),
    ],
    ids=["opened-by-ai-tool", "cawg-training-mining", "photoshop", "affinity-designer", "camera"],
)
def test_traps_are_no_evidence(
    checker: C2paChecker, chain: Chain, jpeg: bytes, read: Read, definition: dict[str, Any]
) -> None:
    assert checker.check(read(sign(jpeg, "image/jpeg", chain, definition))) == ()


def test_algorithmic_media_is_its_own_weak_kind_not_ai(
    chain: Chain, jpeg: bytes, read: Read, detector: SyntheticDetector
) -> None:
    signed = sign(jpeg, "image/jpeg", chain, manifest(ALGORITHMIC, generator="Fractal Renderer"))
    result = detector.inspect(read(signed))
    (evidence,) = result.evidence
    assert (evidence.kind, evidence.strength) == (EvidenceKind.ALGORITHMIC_MEDIA, Strength.WEAK)
    assert "algorithmicMedia" in evidence.detail
    assert result.label is SyntheticLabel.NO_EVIDENCE


def _heic(rgb: Array) -> bytes:
    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(rgb)).save(buf, quality=70)
    return buf.getvalue()


def _avif(rgb: Array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "AVIF", quality=70, speed=10)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("mime", "encode"),
    [("image/heic", _heic), ("image/avif", _avif), ("image/webp", encode_webp)],
    ids=["heic", "avif", "webp"],
)
def test_c2pa_in_heic_avif_and_webp(
    checker: C2paChecker,
    chain: Chain,
    small: Array,
    read: Read,
    mime: str,
    encode: Callable[[Array], bytes],
) -> None:
    signed = sign(encode(small), mime, chain, manifest(TRAINED, generator="Test Diffusion"))
    picture = read(signed)
    assert picture.mime == mime
    (evidence,) = checker.check(picture)
    assert evidence.strength is Strength.STRONG
    assert "trainedAlgorithmicMedia" in evidence.detail


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Adobe_Firefly/1.0 c2pa-rs/0.17.0", "Adobe Firefly"),
        ("Microsoft_Responsible_AI/1.0", "Microsoft Image Creator"),
        ("OpenAI-API c2pa-rs/0.28.4", "OpenAI"),
        ("DALL·E", "DALL·E"),
        ("Titan Image Generator G1", "Amazon Titan"),
        ("Adobe_Photoshop/24.7.0 (build 20230628.m.2223 0770f83; mac)", None),
        ("make_test_images/0.33.1 c2pa-rs/0.33.1", None),
        ("Truepic_Lens_SDK/2.1", None),
        ("Google C2PA Core Generator Library", None),
        ("Affinity Designer 2", None),
    ],
)
def test_generator_names(text: str, name: str | None) -> None:
    assert ai_generator(text) == name

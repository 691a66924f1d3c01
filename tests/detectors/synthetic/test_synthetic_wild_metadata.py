"""Generator metadata where third-party tools put it: files built as those tools write them.

ComfyUI graphs in JPEG EXIF (SaveImage+ envelope in UserComment,
save-image-extended's ``Workflow: {...}`` / ``Prompt: {...}``), ComfyUI's WebP
EXIF, NovelAI's WebP UserComment, PNG text chunks after the pixels, and
AUTOMATIC1111 / NovelAI "stealth" records in the alpha (or RGB) lowest bits.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from synthetic_files import Array, encode_jpeg, encode_png, encode_webp, exif_block

from jikimi.detectors.synthetic import SyntheticDetector
from jikimi.detectors.synthetic.generators import GeneratorMetadataChecker
from jikimi.detectors.synthetic.stealth import StealthMetadataChecker, read_stealth
from jikimi.domain import EvidenceKind, Strength, SyntheticLabel
from jikimi.media import Picture

Read = Callable[[bytes], Picture]
generators = GeneratorMetadataChecker()
stealth = StealthMetadataChecker()

API_GRAPH = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl_base.safetensors"}},
    "3": {"class_type": "KSampler", "inputs": {"steps": 20, "model": ["4", 0]}},
    "9": {"class_type": "SaveImageExtended", "inputs": {"images": ["3", 0]}},
}
UI_GRAPH = {
    "last_node_id": 9,
    "nodes": [{"id": 3, "type": "KSampler"}, {"id": 4, "type": "CheckpointLoaderSimple"}],
    "links": [[1, 4, 0, 3, 0, "MODEL"]],
}
A1111 = (
    "a lighthouse at dusk\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, "
    "CFG scale: 7, Seed: 1234, Size: 96x64, Model hash: 15012c538f, Model: testModel_v1"
)
NOVELAI = {
    "Description": "a lighthouse",
    "Software": "NovelAI",
    "Source": "NovelAI Diffusion V4.5 4BDE2A90",
    "Comment": json.dumps(
        {
            "prompt": "a lighthouse",
            "steps": 28,
            "sampler": "k_euler_ancestral",
            "uc": "",
            "n_samples": 1,
        }
    ),
}
MAKE, MODEL, IMAGE_DESCRIPTION, USER_COMMENT = 0x010F, 0x0110, 0x010E, 0x9286


def _only(evidence: tuple[object, ...]) -> object:
    assert len(evidence) == 1, evidence
    return evidence[0]


# --- ComfyUI in JPEG and WebP EXIF ----------------------------------------------------


def test_comfyui_saveimage_plus_envelope_in_jpeg_user_comment(small: Array, read: Read) -> None:
    envelope = json.dumps({"prompt": API_GRAPH, "workflow": UI_GRAPH})
    data = encode_jpeg(small, exif=exif_block({USER_COMMENT: envelope}))
    evidence = _only(generators.check(read(data)))
    assert evidence.strength is Strength.STRONG
    assert evidence.detail.startswith("ComfyUI generation graph in EXIF UserComment")
    assert "sdxl_base.safetensors" in evidence.detail


def test_comfyui_envelope_with_graphs_as_strings(small: Array, read: Read) -> None:
    envelope = json.dumps({"prompt": json.dumps(API_GRAPH)})
    data = encode_jpeg(
        small, exif=exif_block({}, {USER_COMMENT: b"ASCII\x00\x00\x00" + envelope.encode()})
    )
    assert "ComfyUI generation graph" in _only(generators.check(read(data))).detail


def test_comfyui_save_image_extended_title_case_tags(small: Array, read: Read) -> None:
    exif = exif_block(
        {
            IMAGE_DESCRIPTION: "Workflow: " + json.dumps(UI_GRAPH),
            MAKE: "Prompt: " + json.dumps(API_GRAPH),
        }
    )
    evidence = _only(generators.check(read(encode_jpeg(small, exif=exif))))
    assert evidence.strength is Strength.STRONG
    assert "EXIF Make" in evidence.detail and "EXIF ImageDescription" in evidence.detail


def test_comfyui_webp_exif_make_and_model(small: Array, read: Read) -> None:
    exif = exif_block(
        {MAKE: "workflow:" + json.dumps(UI_GRAPH), MODEL: "prompt:" + json.dumps(API_GRAPH)}
    )
    evidence = _only(generators.check(read(encode_webp(small, exif=exif))))
    assert evidence.detail.startswith("ComfyUI generation graph in EXIF Make and EXIF Model")


@pytest.mark.parametrize(
    "make",
    ["Prompt: a cat on a sofa", "prompt: {not json", "Workflow: []", "Canon", "Prompt photography"],
)
def test_camera_or_text_in_make_is_not_a_graph(small: Array, read: Read, make: str) -> None:
    data = encode_jpeg(
        small, exif=exif_block({MAKE: make, IMAGE_DESCRIPTION: "Workflow: my holiday"})
    )
    assert generators.check(read(data)) == ()


def test_a_file_name_is_not_evidence(
    small: Array, read: Read, detector: SyntheticDetector, tmp_path: Path
) -> None:
    path = tmp_path / "comfyui_sdxl_00001_.png"
    path.write_bytes(encode_png(small))
    assert detector.inspect(read(path.read_bytes())).label is SyntheticLabel.NO_EVIDENCE


def test_novelai_webp_user_comment(small: Array, read: Read) -> None:
    exif = exif_block(
        {0x0131: "NovelAI Diffusion V4.5 C02D4F98"},
        {USER_COMMENT: b"UNICODE\x00" + json.dumps(NOVELAI).encode("utf-16-be")},
    )
    evidence = _only(generators.check(read(encode_webp(small, exif=exif))))
    assert evidence.strength is Strength.STRONG
    assert evidence.detail.startswith("NovelAI generation metadata in EXIF UserComment")


# --- PNG text after the pixels ----------------------------------------------------------


def _chunk(kind: bytes, body: bytes, crc_ok: bool = True) -> bytes:
    crc = zlib.crc32(kind + body) ^ (0 if crc_ok else 1)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _after_pixels(png: bytes, *chunks: bytes) -> bytes:
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + b"".join(chunks) + png[iend:]


@pytest.mark.parametrize(
    "chunk",
    [
        _chunk(b"tEXt", b"parameters\x00" + A1111.encode("latin-1")),
        _chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(A1111.encode())),
        _chunk(b"iTXt", b"parameters\x00\x01\x00\x00\x00" + zlib.compress(A1111.encode())),
        _chunk(b"iTXt", b"parameters\x00\x00\x00en\x00\x00" + A1111.encode()),
    ],
    ids=["tEXt", "zTXt", "iTXt-compressed", "iTXt"],
)
def test_parameters_after_idat(small: Array, read: Read, chunk: bytes) -> None:
    picture = read(_after_pixels(encode_png(small), chunk))
    assert picture.metadata.text["parameters"] == A1111
    evidence = _only(generators.check(picture))
    assert evidence.detail.startswith("AUTOMATIC1111-format generation parameters in text field")


def test_text_after_idat_keeps_earlier_values_and_skips_bad_checksums(
    small: Array, read: Read
) -> None:
    png = encode_png(small, text={"Software": "first"})
    data = _after_pixels(
        png,
        _chunk(b"tEXt", b"Software\x00second"),
        _chunk(b"tEXt", b"parameters\x00" + A1111.encode(), crc_ok=False),
        _chunk(b"zTXt", b"junk\x00\x00" + b"not zlib"),
    )
    picture = read(data)
    assert picture.metadata.text == {"Software": "first"}
    assert np.array_equal(picture.rgb(), small)


# --- stealth records in the lowest bits -----------------------------------------------


def _embed(rgba: Array, payload: str, signature: str) -> Array:
    """What the stealth-pnginfo extension writes (column-major bits, big-endian length)."""
    body = payload.encode()
    if signature.endswith("comp"):
        body = gzip.compress(body)
    bits = np.unpackbits(
        np.frombuffer(signature.encode() + struct.pack(">I", len(body) * 8) + body, np.uint8)
    )
    out = rgba.copy()
    alpha = signature.startswith("stealth_png")
    plane = out[..., 3:4] if alpha else out[..., :3]
    h, w, c = plane.shape
    flat = plane.transpose(1, 0, 2).reshape(-1).copy()
    flat[: len(bits)] = (flat[: len(bits)] & 0xFE) | bits
    restored = flat.reshape(w, h, c).transpose(1, 0, 2)
    if alpha:
        out[..., 3:4] = restored
    else:
        out[..., :3] = restored
    return out


def _rgba(small: Array, alpha: int = 255) -> Array:
    big = np.asarray(Image.fromarray(small).resize((192, 128)))
    return np.dstack([big, np.full(big.shape[:2], alpha, np.uint8)])


def _png(rgba: Array, mode: str = "RGBA") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgba if mode == "RGBA" else rgba[..., :3]).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("signature", ["stealth_pngcomp", "stealth_pnginfo"])
def test_a1111_stealth_parameters_in_alpha(small: Array, read: Read, signature: str) -> None:
    picture = read(_png(_embed(_rgba(small), A1111, signature)))
    assert picture.metadata.text == {}  # no text chunks at all
    evidence = _only(stealth.check(picture))
    assert (evidence.kind, evidence.strength) == (EvidenceKind.GENERATOR_METADATA, Strength.STRONG)
    assert evidence.detail.startswith("AUTOMATIC1111-format generation parameters (Steps 20")
    assert f"hidden in the alpha channel's lowest bits ('{signature}'" in evidence.detail


def test_a1111_stealth_in_rgb(small: Array, read: Read) -> None:
    rgb = _embed(_rgba(small), A1111, "stealth_rgbcomp")
    evidence = _only(stealth.check(read(_png(rgb, mode="RGB"))))
    assert "hidden in the RGB's lowest bits ('stealth_rgbcomp'" in evidence.detail


def test_novelai_stealth_json_in_a_lossless_webp(small: Array, read: Read) -> None:
    rgba = _embed(_rgba(small), json.dumps(NOVELAI), "stealth_pngcomp")
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, "WEBP", lossless=True)
    evidence = _only(stealth.check(read(buf.getvalue())))
    assert evidence.detail.startswith("NovelAI generation metadata")
    assert "NovelAI Diffusion V4.5" in evidence.detail


def test_unknown_stealth_payload_is_moderate(small: Array, read: Read) -> None:
    picture = read(_png(_embed(_rgba(small), "some text no reader knows", "stealth_pnginfo")))
    evidence = _only(stealth.check(picture))
    assert evidence.strength is Strength.MODERATE


@pytest.mark.parametrize("alpha", ["opaque", "random-bits", "bad-gzip", "huge-length"])
def test_no_stealth_record(small: Array, read: Read, alpha: str) -> None:
    rgba = _rgba(small)
    rng = np.random.default_rng(3)
    if alpha == "random-bits":
        rgba[..., 3] = rng.integers(250, 256, rgba.shape[:2], dtype=np.uint8)
    elif alpha == "bad-gzip":
        rgba = _embed(rgba, A1111, "stealth_pnginfo")
        bits = np.unpackbits(np.frombuffer(b"stealth_pngcomp", np.uint8))
        column = rgba[:120, 0, 3]
        rgba[:120, 0, 3] = (column & 0xFE) | bits  # claims gzip, holds plain text
    elif alpha == "huge-length":
        rgba = _embed(rgba, A1111, "stealth_pnginfo")
        rgba[120:128, 0, 3] |= 1  # the length's top bits: far more bits than pixels
    assert stealth.check(read(_png(rgba))) == ()


def test_read_stealth_reads_only_the_columns_it_needs() -> None:
    tall = np.zeros((4000, 3, 1), np.uint8)
    assert read_stealth(tall, "alpha") is None  # zero bits: no signature, nothing else read


def test_jpeg_is_not_read_for_stealth(small: Array, read: Read) -> None:
    assert stealth.check(read(encode_jpeg(small))) == ()

"""AI-generation evidence in video containers: tags, XMP boxes and C2PA in MP4.

Every video is written here with PyAV (a few frames of a flat colour, a few kB)
and tagged the way the tools write them: FFmpeg ``-metadata`` tags, ComfyUI Video
Helper Suite's workflow JSON in ``comment``, an XMP ``uuid`` box, and a C2PA
manifest signed by the test CA of ``synthetic_files`` (no network).
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping

import av
import numpy as np
import pytest
from synthetic_files import CAPTURE, TRAINED, make_chain, manifest, sign, xmp_packet

from jikimi.detectors.synthetic.container import (
    ContainerProvenance,
    container_metadata,
    iso_xmp,
)
from jikimi.domain import EvidenceKind, Strength, Synthetic, SyntheticLabel
from jikimi.media import sniff
from jikimi.media.video import VideoLimits, load_video


def video(
    fmt: str = "mp4",
    tags: Mapping[str, str] | None = None,
    stream_tags: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None,
) -> bytes:
    """Ten 64 x 48 frames of H.264 in container ``fmt`` with the given tags."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt, options=dict(options or {})) as container:
        container.metadata.update(tags or {})
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.metadata.update(stream_tags or {})
        for i in range(10):
            rgb = np.full((48, 64, 3), (20 * i, 90, 160), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return buf.getvalue()


@pytest.fixture(scope="module")
def provenance() -> ContainerProvenance:
    return ContainerProvenance()


def inspect(provenance: ContainerProvenance, data: bytes) -> Synthetic:
    media = load_video(data, VideoLimits()).media  # the file must still be a valid video
    return provenance.inspect(data, sniff(data), media)


# --- tags ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "tool", "where"),
    [
        ({"tags": {"comment": "Generated with Runway Gen-3 Alpha"}}, "Runway", "container tag"),
        ({"stream_tags": {"encoder": "Kling AI 1.6"}}, "Kling", "stream 0 tag 'encoder'"),
        (
            {
                "tags": {"com.apple.quicktime.software": "Sora 2"},
                "options": {"movflags": "use_metadata_tags"},
            },
            "OpenAI Sora",
            "container tag 'com.apple.quicktime.software'",
        ),
        ({"tags": {"description": "made with Google Veo 3"}}, "Google Veo", "'description'"),
        ({"tags": {"comment": "FaceFusion 3.1.0"}}, "FaceFusion", "'comment'"),
        ({"fmt": "matroska", "tags": {"comment": "pika.art export"}}, "Pika", "'COMMENT'"),
    ],
    ids=["comment", "stream-encoder", "quicktime-software", "description", "face-swap", "mkv"],
)
def test_a_generator_named_in_a_tag_is_moderate_evidence(
    provenance: ContainerProvenance, kwargs: dict[str, object], tool: str, where: str
) -> None:
    synthetic = inspect(provenance, video(**kwargs))  # type: ignore[arg-type]
    (evidence,) = synthetic.evidence
    assert synthetic.label is SyntheticLabel.EVIDENCE
    assert (evidence.kind, evidence.strength) == (
        EvidenceKind.GENERATOR_METADATA,
        Strength.MODERATE,
    )
    assert f"the generator {tool}" in evidence.detail
    assert where in evidence.detail


def test_an_ordinary_video_has_no_evidence(provenance: ContainerProvenance) -> None:
    # names that are also words or given names, in free text, are not evidence
    tags = {
        "title": "Sora's birthday with Luma and Pika",
        "comment": "Our holiday. Kling! Veo de la playa.",
        "artist": "Runway Models Agency",
    }
    assert inspect(provenance, video(tags=tags)) == Synthetic(label=SyntheticLabel.NO_EVIDENCE)


def test_the_conformance_videos_have_no_evidence(provenance: ContainerProvenance) -> None:
    from pathlib import Path

    folder = Path(__file__).resolve().parents[4] / "shared" / "conformance" / "vpdq"
    videos = sorted(folder.glob("*.mp4"))
    if not videos:
        pytest.skip(f"conformance videos not found in {folder}")
    for path in videos:
        assert inspect(provenance, path.read_bytes()).label is SyntheticLabel.NO_EVIDENCE


def comfy_comment() -> str:
    """The ``comment`` tag ComfyUI Video Helper Suite writes: prompt (a JSON string)
    and workflow (an object), as in its ``VideoCombine`` node."""
    prompt = {
        "3": {"class_type": "KSampler", "inputs": {"steps": 20, "model": ["4", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.ckpt"}},
        "9": {"class_type": "ADE_AnimateDiffLoaderGen1", "inputs": {}},
        "10": {"class_type": "VHS_VideoCombine", "inputs": {"frame_rate": 8}},
    }
    workflow = {"nodes": [{"id": 3, "type": "KSampler"}], "links": []}
    return json.dumps({"prompt": json.dumps(prompt), "workflow": workflow})


def test_a_comfyui_workflow_in_the_comment_is_strong_evidence(
    provenance: ContainerProvenance,
) -> None:
    (evidence,) = inspect(provenance, video(tags={"comment": comfy_comment()})).evidence
    assert (evidence.kind, evidence.strength) == (
        EvidenceKind.GENERATOR_METADATA,
        Strength.STRONG,
    )
    assert "ComfyUI generation graph" in evidence.detail
    assert "container tag 'comment' (Video Helper Suite)" in evidence.detail
    assert "'KSampler'" in evidence.detail and "sd15.ckpt" in evidence.detail


def test_automatic1111_parameters_in_the_comment_are_strong_evidence(
    provenance: ContainerProvenance,
) -> None:
    infotext = "a walk\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512"
    (evidence,) = inspect(provenance, video(tags={"comment": infotext})).evidence
    assert evidence.strength is Strength.STRONG
    assert "AUTOMATIC1111" in evidence.detail


def test_container_metadata_keys(provenance: ContainerProvenance) -> None:
    data = video(tags={"comment": "c"}, stream_tags={"encoder": "e"})
    metadata = container_metadata(data, sniff(data).format)
    assert metadata.text["comment"] == "c"
    assert metadata.text["stream 0:encoder"] == "e"
    assert metadata.xmp is None


def test_unreadable_containers_give_no_metadata() -> None:
    data = video()
    assert container_metadata(data[:40], sniff(data).format).text == {}
    assert container_metadata(b"\x00" * 64, sniff(data).format).text == {}


# --- XMP --------------------------------------------------------------------------------

_XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def test_xmp_in_an_mp4_uuid_box_is_read(provenance: ContainerProvenance) -> None:
    packet = xmp_packet(f'Iptc4xmpExt:DigitalSourceType="{TRAINED}"')
    data = video() + box(b"uuid", _XMP_UUID + packet)  # a top-level box after moov
    (evidence,) = inspect(provenance, data).evidence
    assert (evidence.kind, evidence.strength) == (EvidenceKind.IPTC_SOURCE_TYPE, Strength.STRONG)
    assert "trainedAlgorithmicMedia" in evidence.detail


def test_xmp_in_a_quicktime_udta_box_is_read() -> None:
    packet = xmp_packet(f'Iptc4xmpExt:DigitalSourceType="{CAPTURE}"')
    data = box(b"ftyp", b"qt  \x00\x00\x02\x00qt  ") + box(
        b"moov", box(b"mvhd", bytes(100)) + box(b"udta", box(b"XMP_", packet))
    )
    assert iso_xmp(data) == packet.decode()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        box(b"ftyp", b"isom") + struct.pack(">I", 3) + b"uuid",  # a box smaller than its header
        box(b"ftyp", b"isom") + struct.pack(">I", 9999) + b"moov",  # past the end
        box(b"uuid", bytes(16) + b"<x/>"),  # a uuid box that is not XMP
    ],
)
def test_no_xmp_in_broken_or_other_boxes(data: bytes) -> None:
    assert iso_xmp(data) is None


# --- C2PA ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed() -> bytes:
    return sign(video(), "video/mp4", make_chain(), manifest(TRAINED, generator="Test Video AI"))


def test_c2pa_in_mp4_declaring_ai_is_strong_evidence(
    provenance: ContainerProvenance, signed: bytes
) -> None:
    (evidence,) = inspect(provenance, signed).evidence
    assert (evidence.kind, evidence.strength) == (EvidenceKind.C2PA, Strength.STRONG)
    assert "'Test Video AI 2.0'" in evidence.detail
    assert "trainedAlgorithmicMedia" in evidence.detail
    assert "valid signature" in evidence.detail


def test_c2pa_in_mp4_of_a_camera_is_not_evidence(provenance: ContainerProvenance) -> None:
    data = sign(video(), "video/mp4", make_chain(), manifest(CAPTURE, generator="Test Camera"))
    assert inspect(provenance, data).label is SyntheticLabel.NO_EVIDENCE


def test_c2pa_in_an_edited_mp4_fails_validation(
    provenance: ContainerProvenance, signed: bytes
) -> None:
    # change one byte of the coded pictures after signing: the BMFF hash no longer matches
    mdat = signed.index(b"mdat") + 8
    edited = bytearray(signed)
    edited[mdat + 40] ^= 0x01
    (evidence,) = inspect(provenance, bytes(edited)).evidence
    assert (evidence.kind, evidence.strength) == (EvidenceKind.C2PA, Strength.MODERATE)
    assert "validation failed" in evidence.detail

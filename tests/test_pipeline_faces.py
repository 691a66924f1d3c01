"""The pipeline's face stage: faces in images and sampled video frames, and decisions."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from face_samples import GROUP_PHOTO, astronaut, rgb_of, sample, variant
from jikimi.config import Settings
from jikimi.domain import Action, Priority
from jikimi.faces import FaceEngine, FaceIndex, FaceModels, TenantFaces
from jikimi.pipeline import Item, Scanner

THRESHOLD = Settings().face_threshold


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner.from_settings(Settings())


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine(FaceModels.bundled())


@pytest.fixture(scope="module")
def her(engine: FaceEngine) -> TenantFaces:
    rgb = rgb_of(astronaut())
    index = FaceIndex.build({"per_HER": engine.templates(rgb, engine.detect(rgb))})
    return TenantFaces(engine, index, THRESHOLD)


def _png_with_generator_metadata(data: bytes) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a portrait\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1")
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _mp4(data: bytes, seconds: int = 3, fps: int = 10) -> bytes:
    rgb = rgb_of(data)
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
        for _ in range(seconds * fps):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return out.getvalue()


def test_without_a_face_stage_no_face_is_looked_for(scanner: Scanner) -> None:
    verdict = scanner.scan(astronaut())
    assert verdict.faces == ()
    assert verdict.decision is not None and verdict.decision.action is Action.ALLOW


def test_her_face_in_a_new_image_is_held_for_review(scanner: Scanner, her: TenantFaces) -> None:
    upload, stranger, nobody = scanner.with_matcher(None, her).scan_many(
        [
            Item(variant(astronaut()), {}),
            Item(GROUP_PHOTO.read_bytes(), {}),
            Item(sample("rocket.jpg"), {}),
        ]
    )
    assert upload.faces is not None
    [face] = upload.faces
    assert face.person == "per_HER" and face.similarity is not None
    assert face.similarity >= THRESHOLD and face.t_s is None
    assert upload.decision is not None
    assert (upload.decision.action, upload.decision.priority) == (Action.HOLD, Priority.NORMAL)
    assert any("registered person: per_HER" in r for r in upload.decision.reasons)
    assert stranger.faces is not None and len(stranger.faces) >= 5
    assert all(f.person is None for f in stranger.faces)
    assert stranger.decision is not None
    assert not any("registered person" in r for r in stranger.decision.reasons)
    assert nobody.faces == ()


def test_with_ai_evidence_it_is_urgent(scanner: Scanner, her: TenantFaces) -> None:
    verdict = scanner.with_matcher(None, her).scan(_png_with_generator_metadata(astronaut()))
    assert verdict.decision is not None
    assert (verdict.decision.action, verdict.decision.priority) == (Action.HOLD, Priority.URGENT)
    assert any(
        "Possible AI-made image of a registered person" in r for r in verdict.decision.reasons
    )


def test_faces_in_sampled_video_frames_carry_their_time(scanner: Scanner, her: TenantFaces) -> None:
    verdict = scanner.with_matcher(None, her).scan(_mp4(astronaut()))
    assert verdict.error is None and verdict.faces
    times = sorted({f.t_s for f in verdict.faces if f.t_s is not None})
    assert len(times) == len(verdict.faces) >= 3  # one face per graded frame, each timed
    assert times[0] == 0.0 and times[-1] >= 2.0
    assert all(f.person == "per_HER" for f in verdict.faces)
    assert verdict.decision is not None and verdict.decision.action is Action.HOLD


def test_the_verdict_never_carries_a_template(scanner: Scanner, her: TenantFaces) -> None:
    data = scanner.with_matcher(None, her).scan(astronaut()).to_json_dict()
    [face] = data["faces"]
    assert set(face) == {"box", "score", "person", "similarity", "t_s"}
    assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
    assert not any(isinstance(v, list) and len(v) > 4 for v in face.values())
    assert np.isclose(face["similarity"], 1.0, atol=0.01)

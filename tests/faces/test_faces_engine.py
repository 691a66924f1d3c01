"""The face engine: YuNet finds faces, SFace templates separate people."""

from __future__ import annotations

import numpy as np
import pytest

from face_samples import GROUP_PHOTO, astronaut, rgb_of, sample, scaled, variant
from jikimi.faces import TEMPLATE_DIM, FaceEngine, sharpness


def test_one_face_in_the_astronaut_portrait(engine: FaceEngine) -> None:
    rgb = rgb_of(astronaut())
    [face] = engine.detect(rgb)
    x, y, w, h = face.box
    assert face.score > 0.8
    assert 60 <= w <= 140 and 60 <= h <= 160  # her face, not the whole picture
    assert 150 <= x + w / 2 <= 300 and 50 <= y + h / 2 <= 220
    right_eye, left_eye = face.landmarks[0], face.landmarks[1]
    assert right_eye[0] < left_eye[0]


@pytest.mark.parametrize("name", ["rocket.jpg", "coffee.jpg"])
def test_no_face_where_there_is_none(engine: FaceEngine, name: str) -> None:
    assert engine.detect(rgb_of(sample(name))) == []


def test_templates_are_unit_vectors(engine: FaceEngine) -> None:
    rgb = rgb_of(astronaut())
    templates = engine.templates(rgb, engine.detect(rgb))
    assert templates.shape == (1, TEMPLATE_DIM) and templates.dtype == np.float32
    assert abs(float(np.linalg.norm(templates[0])) - 1.0) < 1e-5
    assert engine.templates(rgb, []).shape == (0, TEMPLATE_DIM)


def _template(engine: FaceEngine, data: bytes) -> np.ndarray:
    rgb = rgb_of(data)
    return engine.templates(rgb, engine.detect(rgb)[:1])[0]


def test_the_same_face_in_another_copy_is_similar(engine: FaceEngine) -> None:
    original = _template(engine, astronaut())
    for copy in (variant(astronaut()), scaled(astronaut(), 0.6), scaled(astronaut(), 2.0)):
        assert float(original @ _template(engine, copy)) > 0.7


def test_other_people_are_not_similar(engine: FaceEngine) -> None:
    rgb = rgb_of(GROUP_PHOTO.read_bytes())
    faces = engine.detect(rgb)
    assert len(faces) >= 5
    others = engine.templates(rgb, faces)
    similarity = others @ _template(engine, astronaut())
    assert float(similarity.max()) < 0.4
    pairwise = others @ others.T
    off_diagonal = pairwise[~np.eye(len(others), dtype=bool)]
    assert float(off_diagonal.max()) < 0.5


def test_small_faces_are_left_out(engine: FaceEngine) -> None:
    rgb = rgb_of(scaled(astronaut(), 0.15))  # her face is about 15 px
    assert engine.detect(rgb) == []


def test_blur_lowers_sharpness(engine: FaceEngine) -> None:
    rgb = rgb_of(astronaut())
    [face] = engine.detect(rgb)
    sharp = sharpness(engine.aligned(rgb, face))
    soft = rgb_of(scaled(scaled(astronaut(), 0.12), 1 / 0.12))
    [soft_face] = engine.detect(soft)
    assert sharpness(engine.aligned(soft, soft_face)) < sharp / 3


def test_a_large_picture_is_scaled_down_for_detection(engine: FaceEngine) -> None:
    big = rgb_of(scaled(astronaut(), 4.0))  # 2048 px: her face is ~400 px
    [face] = engine.detect(big)
    assert 240 <= face.box[2] <= 560
    small = _template(engine, astronaut())
    assert float(engine.templates(big, [face])[0] @ small) > 0.7


def test_engine_is_shared_per_settings(tmp_path: object) -> None:
    from jikimi.config import Settings

    a = FaceEngine.from_settings(Settings())
    assert FaceEngine.from_settings(Settings()) is a
    assert FaceEngine.from_settings(Settings(face_min_px=40)) is not a

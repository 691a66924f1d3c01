"""A tilted picture turned back: the angle found from the fill around it.

A picture rotated by a few degrees in an editor or an app comes back with its
corners filled with one colour (black, white, the app's background), either
inside the original frame (the corners of the picture are lost) or on a canvas
grown to hold it all. PDQ moves about 50 bits at 2 degrees and 90 at 5: the
rotation has to be undone before hashing, within about a degree.

The angle is read from the shape of what is not fill. On a small copy, each
pixel's share that is unlike the corners' colour forms a mask; for each
candidate angle (:data:`MAX_DEGREES` either way, a degree apart, then a tenth
around the best) and each of the two canvases (same size; grown to fit), the
mask a rotated rectangle would leave is compared with it, and the closest wins.
Then the picture is rotated back at PDQ's working size: a grown canvas is cut to
the original's shape, and a same-size one has its lost corners filled in from
their neighbours (OpenCV's Telea inpainting), which keeps PDQ's low frequencies
near the original's.

What it cannot do: a picture tilted on a textured background (a photo of a
screen on a desk), a picture whose own corners are the fill's colour, angles
beyond :data:`MAX_DEGREES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from jikimi.media.picture import RGB

MAX_DEGREES: Final = 15.0
MIN_DEGREES: Final = 1.0
"""Below this a picture is left as it is (PDQ tolerates a degree)."""
WORK_SIDE: Final = 160
UPRIGHT_SIDE: Final = 512
"""The reference PDQ's own working size (``signals.pdq.REFERENCE_SIDE``)."""
FILL_TOLERANCE: Final = 24
"""Per-channel distance from the corners' colour that still counts as fill."""
MIN_FILL_SHARE: Final = 0.9
"""Least share of the corners the best angle leaves outside the picture that must be of
the fill's colour (inside, fill-coloured pixels are the picture's own: a white shirt)."""
MIN_CORNERS: Final = 0.005
"""Least share of the picture those corners must cover (a real tilt leaves some)."""
MIN_CONTENT_SHARE: Final = 0.5
"""Least share of the rotated rectangle that must be unlike the fill (a picture, not a page)."""


@dataclass(frozen=True)
class Tilt:
    """How a picture was rotated: ``degrees`` counter-clockwise, on a ``grown`` canvas or
    not, and the original's size in the picture's pixels."""

    degrees: float
    grown: bool
    width: float
    height: float


def find_tilt(rgb: RGB) -> Tilt | None:
    """The rotation that put ``rgb`` in its fill, or ``None`` (most pictures)."""
    height, width = rgb.shape[:2]
    if height < 32 or width < 32:
        return None
    corners = rgb[[0, 0, -1, -1], [0, -1, 0, -1]].astype(np.int16)
    fill = np.median(corners, axis=0)
    if np.abs(corners - fill).max() > FILL_TOLERANCE:
        return None
    scale = WORK_SIDE / max(height, width)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    # the share of each small pixel that is not fill: edges to a fraction of a pixel
    is_fill = (np.abs(rgb.astype(np.int16) - fill).max(axis=2) <= FILL_TOLERANCE).astype(np.uint8)
    shrunk = Image.fromarray(is_fill * 255).resize(size, Image.Resampling.BOX)
    mask = 1.0 - np.asarray(shrunk, dtype=np.float32) / 255.0
    rows, cols = mask.shape
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float32)
    ys = (ys + 0.5) / rows * height - height / 2
    xs = (xs + 0.5) / cols * width - width / 2

    def inside(tilt: Tilt) -> NDArray[np.bool_]:
        t = np.deg2rad(tilt.degrees)
        u = np.cos(t) * xs - np.sin(t) * ys
        v = np.sin(t) * xs + np.cos(t) * ys
        kept: NDArray[np.bool_] = (np.abs(u) <= tilt.width / 2) & (np.abs(v) <= tilt.height / 2)
        return kept

    def best_of(candidates: NDArray[np.float64], modes: tuple[bool, ...]) -> Tilt:
        tilts = [t for d in candidates for g in modes if (t := _tilt(float(d), g, width, height))]
        return min(tilts, key=lambda tilt: float(np.abs(inside(tilt) - mask).mean()))

    coarse = best_of(np.arange(-MAX_DEGREES, MAX_DEGREES + 0.01, 1.0), (False, True))
    tilt = best_of(np.arange(coarse.degrees - 1.0, coarse.degrees + 1.01, 0.1), (False, True))
    kept = inside(tilt)
    outside = ~kept
    if not MIN_DEGREES <= abs(tilt.degrees) <= MAX_DEGREES or outside.mean() < MIN_CORNERS:
        return None
    if float(1.0 - mask[outside].mean()) < MIN_FILL_SHARE:
        return None
    if float(mask[kept].mean()) < MIN_CONTENT_SHARE:
        return None
    return tilt


def _tilt(degrees: float, grown: bool, width: int, height: int) -> Tilt | None:
    if not grown:
        return Tilt(degrees, False, float(width), float(height))
    # the grown canvas is (w cos + h sin) x (w sin + h cos): solve for w and h
    c, s = abs(np.cos(np.deg2rad(degrees))), abs(np.sin(np.deg2rad(degrees)))
    det = c * c - s * s
    w0, h0 = (width * c - height * s) / det, (height * c - width * s) / det
    if w0 <= 0 or h0 <= 0:
        return None
    return Tilt(degrees, True, float(w0), float(h0))


def upright(rgb: RGB, tilt: Tilt) -> RGB:
    """``rgb`` rotated back by ``tilt``: cut to the original's size, or with its lost
    corners filled in. At most :data:`UPRIGHT_SIDE` long: PDQ hashes no more."""
    image = Image.fromarray(rgb)
    scale = UPRIGHT_SIDE / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BOX)
        tilt = Tilt(tilt.degrees, tilt.grown, tilt.width * scale, tilt.height * scale)
    back = image.rotate(-tilt.degrees, resample=Image.Resampling.BICUBIC)
    if tilt.grown:
        left, top = (image.width - tilt.width) / 2, (image.height - tilt.height) / 2
        box = (round(left), round(top), round(left + tilt.width), round(top + tilt.height))
        out: RGB = np.asarray(back.crop(box))
        return out
    whole = Image.new("L", image.size, 255)
    kept = whole.rotate(tilt.degrees).rotate(-tilt.degrees)
    lost = (np.asarray(kept) < 200).astype(np.uint8) * 255
    filled: RGB = np.asarray(cv2.inpaint(np.asarray(back), lost, 3, cv2.INPAINT_TELEA), np.uint8)
    return filled

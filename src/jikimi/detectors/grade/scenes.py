"""Scene cuts: which decoded frames start a new shot, so that each shot gets graded.

Grading one frame a second misses a shot shorter than a second and places the start
of every shot up to a second late. Editors cut abusive material into short shots,
so the video pipeline also grades the first frame after each cut. Finding cuts must
cost almost nothing next to decoding, so it works on what the decoder already has,
the 8-bit luma plane, shrunk to a 64 x 64 thumbnail by area averaging (under a
millisecond for a 1080p frame), and compares each decoded frame with the previous
one (the pipeline decodes about five frames a second for this)::

    luma ─► 64 x 64 ─► histogram (32 bins)  ─► H = half the L1 distance (0..1)
                   └─► 16 x 16              ─► D = mean |difference| (grey levels)

    cut  if  H >= histogram_threshold                          (a new picture)
         or  D >= difference_threshold  and  D >= ratio x mean(previous D's)
         and the last cut is at least min_gap_s ago

Why two measures
    The histogram ignores where things are, so camera motion barely moves it
    (a pan over a photo: H <= 0.22 even at most of a frame's width a second) while a
    cut to another picture moves it a lot (0.4-0.95 between the scikit-image photos;
    1 between two flat colours). It misses a cut between shots of similar tones, which
    the pixel difference catches when it spikes above the recent differences (the
    idea of PySceneDetect's adaptive detector: motion makes every difference high,
    a cut is a spike above its neighbours). The 16 x 16 thumbnail blurs away fine
    texture, which is what makes motion expensive for pixel differences.
    ``min_gap_s`` keeps strobes and flashes from adding more than two frames a second.

A false cut costs one extra graded frame; a missed cut leaves the shot to the
once-a-second sampling. The defaults lean towards false cuts.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from jikimi.errors import ConfigError

THUMBNAIL: Final = 64
"""Side of the luma thumbnail the histogram is taken from."""

SMALL: Final = 16
"""Side of the thumbnail compared pixel by pixel (a divisor of THUMBNAIL)."""

BINS: Final = 32
"""Histogram bins over 0-255."""

_LUMA: Final = np.array([0.299, 0.587, 0.114], dtype=np.float32)

Floats = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Features:
    """What is compared between frames: a 16 x 16 luma thumbnail and a luma histogram."""

    small: Floats
    histogram: Floats  # BINS values summing to 1


def luma_features(luma: NDArray[np.uint8], *, full_range: bool = True) -> Features:
    """Features of a decoder's Y plane (``full_range=False``: 16-235, stretched to 0-255)."""
    thumb = _shrink(luma)
    if not full_range:
        thumb = (thumb - np.float32(16)) * np.float32(255 / 219)
    return _features(thumb)


def rgb_features(rgb: NDArray[np.uint8]) -> Features:
    """Features of an RGB frame (frames without a luma plane: GIF, WebP, RGB video)."""
    thumb: Floats = _shrink(rgb) @ _LUMA
    return _features(thumb)


def _shrink(pixels: NDArray[np.uint8]) -> Floats:
    """Area-average to 64 x 64. The few rows and columns past a multiple of 64 are left
    out: OpenCV's area resize is 7x faster for whole-number ratios (0.6 ms for 1080p)."""
    height, width = pixels.shape[:2]
    if height >= THUMBNAIL and width >= THUMBNAIL:
        pixels = pixels[: height - height % THUMBNAIL, : width - width % THUMBNAIL]
    small = cv2.resize(np.asarray(pixels), (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.float32)


def _features(thumb: Floats) -> Features:
    step = THUMBNAIL // SMALL
    small = thumb.reshape(SMALL, step, SMALL, step).mean(axis=(1, 3), dtype=np.float32)
    counts, _ = np.histogram(thumb, bins=BINS, range=(0.0, 256.0))
    histogram = (counts / thumb.size).astype(np.float32)
    return Features(small=small, histogram=histogram)


@dataclass(frozen=True, slots=True)
class SceneRules:
    """When a frame starts a new shot (see the module docstring for the reasoning)."""

    histogram_threshold: float = 0.25
    difference_threshold: float = 20.0
    ratio: float = 3.0
    history: int = 4
    min_gap_s: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.histogram_threshold <= 1 or self.difference_threshold <= 0:
            raise ConfigError("scene thresholds must be in (0, 1] (histogram) and > 0 (pixels)")
        if self.ratio < 1 or self.history < 1 or self.min_gap_s < 0:
            raise ConfigError("scene rules need ratio >= 1, history >= 1 and min_gap_s >= 0")


@dataclass(slots=True)
class SceneCuts:
    """Feed the features of consecutive decoded frames in order; says which start a shot."""

    rules: SceneRules = field(default_factory=SceneRules)
    _previous: Features | None = None
    _recent: deque[float] = field(default_factory=deque)
    _last_cut_s: float | None = None

    def is_cut(self, t_s: float, features: Features) -> bool:
        """Whether the frame at ``t_s`` starts a new shot (the first frame never does)."""
        previous, self._previous = self._previous, features
        if previous is None:
            return False
        histogram = float(np.abs(features.histogram - previous.histogram).sum()) / 2
        difference = float(np.abs(features.small - previous.small).mean())
        spike = bool(self._recent) and difference >= self.rules.ratio * (
            sum(self._recent) / len(self._recent)
        )
        self._remember(difference)
        rules = self.rules
        changed = histogram >= rules.histogram_threshold or (
            spike and difference >= rules.difference_threshold
        )
        if not changed:
            return False
        if self._last_cut_s is not None and t_s - self._last_cut_s < rules.min_gap_s:
            return False
        self._last_cut_s = t_s
        return True

    def _remember(self, difference: float) -> None:
        self._recent.append(difference)
        while len(self._recent) > self.rules.history:
            self._recent.popleft()

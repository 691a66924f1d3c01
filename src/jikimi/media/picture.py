"""``Picture``: a still image ready for every analyser, decoded lazily.

Hashers, detectors and provenance readers all take a ``Picture``. It keeps the
original bytes (C2PA and digests need them), the metadata read from the header
(no pixel decode), and decodes pixels on demand: ``rgb()`` gives the full image,
``rgb(min_side=N)`` may return a reduced-scale decode (JPEG DCT scaling) whose
shorter side is still at least ``N`` pixels, which is how PDQ and the grade model
avoid decoding 12 MP only to shrink it to 64 or 320 pixels.

Decodes are cached per Picture, keyed by the *scale* a request decodes at (when
the decoder says, through ``scale_of``), so ``rgb(64)`` returns the same pixels
whether or not someone asked for ``rgb(320)`` or ``rgb()`` first: hashes must not
depend on the order in which analysers run. The arrays are shared between
analysers and therefore read-only; copy before changing one in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from jikimi.domain import Media

RGB = NDArray[np.uint8]
"""H x W x 3, uint8, C-contiguous, EXIF orientation applied."""


@dataclass(frozen=True)
class Metadata:
    """Text metadata found in the file header, for provenance checks.

    ``text``: PNG tEXt/zTXt/iTXt chunks before the pixel data, JPEG COM comments,
    GIF comments (key -> value; comments under ``"comment"``, several joined by
    newlines).
    ``exif``: EXIF tags of IFD0 and the Exif sub-IFD by name (``"Software"``,
    ``"UserComment"``, ``"Make"``, ...), as ``str``: text decoded (UserComment
    by its charset prefix), numbers in decimal; binary blobs left out.
    ``xmp``: the raw XMP packet (XML text) or ``None``.
    A malformed block is left out; it never makes the image unloadable.
    """

    text: dict[str, str] = field(default_factory=dict)
    exif: dict[str, str] = field(default_factory=dict)
    xmp: str | None = None


Decoder = Callable[[int], RGB]
"""Decodes pixels; the argument is ``min_side`` (0 = full resolution)."""

ScaleOf = Callable[[int], int]
"""Maps ``min_side`` to the scale its decode uses (e.g. the JPEG DCT denominator
1, 2, 4 or 8): requests with the same scale share one decode."""


class Picture:
    """A decoded-on-demand still image. Build it with :func:`jikimi.media.load`."""

    __slots__ = ("_cache", "_decode", "_scale_of", "data", "media", "metadata", "mime")

    def __init__(
        self,
        media: Media,
        data: bytes,
        mime: str,
        metadata: Metadata,
        decode: Decoder,
        scale_of: ScaleOf | None = None,
    ) -> None:
        self.media = media
        self.data = data
        self.mime = mime
        self.metadata = metadata
        self._decode = decode
        self._scale_of = scale_of
        self._cache: dict[int, RGB] = {}

    def rgb(self, min_side: int = 0) -> RGB:
        """Pixels as RGB. ``min_side > 0`` allows a cheaper reduced-scale decode.

        The result's shorter side is at least ``min_side`` (or the full image).
        The array is read-only and shared: copy it before modifying it.
        """
        if min_side >= min(self.media.width, self.media.height):
            min_side = 0
        if self._scale_of is None:
            if min_side not in self._cache and 0 in self._cache:
                return self._cache[0]  # already have full resolution: no cheaper decode
            key = min_side
        else:
            key = self._scale_of(min_side)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._decode(min_side)
        return cached

    @classmethod
    def from_array(cls, rgb: RGB, media: Media, data: bytes = b"") -> Picture:
        """A Picture over pixels already in memory (video frames, tests)."""
        arr = np.ascontiguousarray(rgb, dtype=np.uint8).view()
        arr.flags.writeable = False  # a read-only view; the caller's array is untouched
        return cls(
            media, data, "application/octet-stream", Metadata(), lambda _s: arr, lambda _s: 1
        )

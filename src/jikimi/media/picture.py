"""``Picture``: a still image ready for every analyser, decoded lazily.

Hashers, detectors and provenance readers all take a ``Picture``. It keeps the
original bytes (C2PA and digests need them), the metadata read from the header
(no pixel decode), and decodes pixels on demand: ``rgb()`` gives the full image,
``rgb(min_side=N)`` may return a reduced-scale decode (JPEG DCT scaling) whose
shorter side is still at least ``N`` pixels, which is how PDQ and the grade model
avoid decoding 12 MP only to shrink it to 64 or 320 pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from jikimi.model import Media

RGB = NDArray[np.uint8]
"""H x W x 3, uint8, C-contiguous, EXIF orientation applied."""


@dataclass(frozen=True)
class Metadata:
    """Text metadata found in the file header, for provenance checks.

    ``text``: PNG tEXt/zTXt/iTXt chunks, JPEG COM comments, GIF comments
    (key -> value; JPEG comments under ``"comment"``).
    ``exif``: EXIF tags by name (``"Software"``, ``"UserComment"``, ``"Make"``, ...),
    values decoded to ``str`` where they are text.
    ``xmp``: the raw XMP packet (XML text) or ``None``.
    """

    text: dict[str, str] = field(default_factory=dict)
    exif: dict[str, str] = field(default_factory=dict)
    xmp: str | None = None


Decoder = Callable[[int], RGB]
"""Decodes pixels; the argument is ``min_side`` (0 = full resolution)."""


class Picture:
    """A decoded-on-demand still image. Build it with :func:`jikimi.media.load`."""

    __slots__ = ("_cache", "_decode", "data", "media", "metadata", "mime")

    def __init__(
        self, media: Media, data: bytes, mime: str, metadata: Metadata, decode: Decoder
    ) -> None:
        self.media = media
        self.data = data
        self.mime = mime
        self.metadata = metadata
        self._decode = decode
        self._cache: dict[int, RGB] = {}

    def rgb(self, min_side: int = 0) -> RGB:
        """Pixels as RGB. ``min_side > 0`` allows a cheaper reduced-scale decode."""
        if min_side >= min(self.media.width, self.media.height):
            min_side = 0
        if min_side not in self._cache:
            if 0 in self._cache:  # already have full resolution: no cheaper decode
                return self._cache[0]
            self._cache[min_side] = self._decode(min_side)
        return self._cache[min_side]

    @classmethod
    def from_array(cls, rgb: RGB, media: Media, data: bytes = b"") -> Picture:
        """A Picture over pixels already in memory (video frames, tests)."""
        arr = np.ascontiguousarray(rgb, dtype=np.uint8)
        return cls(media, data, "application/octet-stream", Metadata(), lambda _s: arr)

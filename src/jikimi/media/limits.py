"""Size limits for hostile input, and the one safe way to read a file from disk.

Every upload may be an attack: a 10 GB file, or a 300-byte PNG that claims to be
100 000 x 100 000 pixels and would need 30 GB once decoded (a "decompression
bomb"). jikimi refuses both *before* spending memory on them: the byte size is
checked before a file is read, and the pixel size is read from the image header
and checked before any pixel is decoded. These checks are ours; Pillow's global
``MAX_IMAGE_PIXELS`` is neither relied on nor changed.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from jikimi.config import Settings
from jikimi.errors import (
    ConfigError,
    CorruptMedia,
    EmptyMedia,
    MediaTooLarge,
    UnreadableMedia,
)


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """The largest input jikimi accepts.

    ``max_bytes``: size of the encoded file; ``max_pixels``: width x height;
    ``max_dimension``: width or height alone (a 1 x 90 000 000 image is as
    hostile as a square one to code that allocates per row or column);
    ``max_frames``: images or frames declared in one HEIF/AVIF file.
    """

    max_bytes: int
    max_pixels: int
    max_dimension: int
    max_frames: int = 1000

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_dimension", "max_frames"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"Media limit {name} must be a positive number.")

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaLimits:
        return cls(
            max_bytes=settings.max_bytes,
            max_pixels=settings.max_pixels,
            max_dimension=settings.max_dimension,
            max_frames=settings.max_frames,
        )


def check_size(n_bytes: int, limits: MediaLimits) -> None:
    """Refuse empty input and input over ``max_bytes``."""
    if n_bytes == 0:
        raise EmptyMedia("The file is empty (0 bytes).")
    if n_bytes > limits.max_bytes:
        raise MediaTooLarge(
            f"The file is {n_bytes:,} bytes, over the limit of {limits.max_bytes:,} bytes."
        )


def check_dimensions(width: int, height: int, limits: MediaLimits) -> None:
    """Refuse an image whose header declares too many pixels, before decoding it."""
    if width <= 0 or height <= 0:
        raise CorruptMedia(f"The image declares an impossible size of {width} x {height} pixels.")
    if max(width, height) > limits.max_dimension:
        raise MediaTooLarge(
            f"The image is {width:,} x {height:,} pixels; its width and height may be at "
            f"most {limits.max_dimension:,} pixels."
        )
    if width * height > limits.max_pixels:
        raise MediaTooLarge(
            f"The image is {width:,} x {height:,} = {width * height:,} pixels, over the "
            f"limit of {limits.max_pixels:,} pixels."
        )


def read_file(path: Path, limits: MediaLimits) -> bytes:
    """The bytes of ``path``, refusing a file over ``max_bytes`` without reading it.

    Only regular files are read: a folder, a device (``/dev/zero``) or a named
    pipe (which would block) is refused. The read is bounded too, so a file that
    grows after the size check cannot slip past the limit.
    """
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableMedia(f"{path} is a folder, not a file.")
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableMedia(f"{path} is not a regular file (a device, pipe or socket).")
        _check_file_size(path, info.st_size, limits)
        with path.open("rb") as fh:
            data = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        raise UnreadableMedia(_describe_os_error(path, exc)) from exc
    _check_file_size(path, len(data), limits)
    return data


def _check_file_size(path: Path, n_bytes: int, limits: MediaLimits) -> None:
    if n_bytes > limits.max_bytes:
        raise MediaTooLarge(
            f"{path} is {n_bytes:,} bytes, over the limit of {limits.max_bytes:,} bytes."
        )


_OS_REASONS = {
    errno.ENOENT: "there is no such file",
    errno.EACCES: "permission to read it was denied",
    errno.EPERM: "permission to read it was denied",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ELOOP: "it is a symbolic link that loops",
    errno.ENAMETOOLONG: "the path is too long",
}


def _describe_os_error(path: Path, exc: OSError) -> str:
    reason = _OS_REASONS.get(exc.errno or 0) or exc.strerror or os.strerror(exc.errno or 0)
    return f"Cannot read {path}: {reason}."

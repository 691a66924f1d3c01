"""HEIF/HEIC and AVIF stills: what phones save by default, read like any other image.

iPhones save HEIC, many Android phones HEIF or AVIF. Both are ISO base media
files (``ftyp`` box, then ``meta`` with items) holding one or more coded images:
HEVC for HEIC/HEIF, AV1 for AVIF. They are decoded by maintained libraries
through Pillow plugins, so :mod:`jikimi.media.image` treats them like every
other format (header first, limits, metadata, lazy pixels):

- **HEIC / HEIF**: ``pillow-heif`` (libheif with libde265). libheif applies the
  ``irot``/``imir`` transforms itself and the plugin resets EXIF Orientation to
  1, so nothing is rotated twice (viewers ignore EXIF Orientation in HEIF too).
- **AVIF**: Pillow's own plugin (libavif with dav1d). It reports ``irot``/``imir``
  as EXIF Orientation, which is applied as for a JPEG.

Opening parses the boxes only (libheif and libavif both keep their own security
limits on item counts and sizes); the pixel size of the primary image is known
then and checked against ``max_pixels``/``max_dimension`` before any pixel is
decoded. What is analysed:

- **the primary image** of a HEIF file holding several (a burst, a collection):
  ``pillow-heif`` opens at the primary item; ``media.frames`` counts the top-level
  images and ``media.analysed`` says ``"primary"``;
- **the first frame** of an AVIF sequence (``avis``): ``media.analysed`` says
  ``"first"``; more than ``max_frames`` images or frames is refused;
- **never** the depth maps, alpha planes as separate images, thumbnails or other
  auxiliary images: alpha is applied to the primary image the way a PNG's is,
  and the embedded thumbnails are never used (their pixels may differ from the
  image's).
"""

from __future__ import annotations

from typing import Final

from PIL import ImageFile

from jikimi.errors import MediaTooLarge, UnsupportedMedia
from jikimi.media.limits import MediaLimits
from jikimi.media.sniff import FileFormat

HEIF_FORMATS: Final = (FileFormat.HEIC, FileFormat.AVIF)
"""The ISO base media still formats read here."""


class Analysed:
    """Values of ``Media.analysed``: which image of a multi-image file was analysed."""

    PRIMARY: Final = "primary"
    FIRST: Final = "first"


def plugin_for(fmt: FileFormat) -> type[ImageFile.ImageFile] | None:
    """The Pillow plugin class that decodes ``fmt``, or None if it is not HEIF/AVIF.

    Imported on first use: libheif loads only when a HEIF file is scanned.
    """
    if fmt is FileFormat.HEIC:
        from pillow_heif import HeifImageFile

        plugin: type[ImageFile.ImageFile] = HeifImageFile
        return plugin
    if fmt is FileFormat.AVIF:
        from PIL import AvifImagePlugin

        if not AvifImagePlugin.SUPPORTED:  # pragma: no cover - Pillow built without libavif
            raise UnsupportedMedia("This is an AVIF image, but this Pillow has no AVIF decoder.")
        return AvifImagePlugin.AvifImageFile
    return None


def check_frames(fmt: FileFormat, frames: int, limits: MediaLimits) -> None:
    """Refuse a HEIF/AVIF file declaring more images or frames than ``max_frames``.

    Only one image is decoded, but a file declaring thousands is not a photo
    and every declared image costs parsing and memory in the decoder.
    """
    if fmt in HEIF_FORMATS and frames > limits.max_frames:
        what = "images" if fmt is FileFormat.HEIC else "images or frames"
        raise MediaTooLarge(
            f"The {fmt.name} file holds {frames:,} {what}, over the limit of {limits.max_frames:,}."
        )


def analysed(fmt: FileFormat, frames: int) -> str | None:
    """``Media.analysed`` for a still image: which of several images the scan looked at.

    None for a file with one image. Multi-page TIFFs and AVIF sequences are
    analysed by their first image, HEIF files by their primary one.
    """
    if frames <= 1:
        return None
    return Analysed.PRIMARY if fmt is FileFormat.HEIC else Analysed.FIRST

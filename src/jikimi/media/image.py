"""Turn untrusted bytes into a :class:`Picture`: limits, header, metadata, lazy pixels.

``load`` does only cheap, bounded work: it checks the byte size, sniffs the
format by magic bytes, reads the header to check the pixel size *before* any
pixel is decoded (decompression bombs), counts frames, reads text metadata and
EXIF orientation, and hashes the bytes. Pixels are decoded later, on demand, by
``Picture.rgb()``; a file that turns out to be corrupt fails there, with the
same :class:`~jikimi.errors.CorruptMedia` error ``load`` would raise. A file cut
short is decoded as far as it goes from a completed copy and marked
``Media.truncated`` (see :mod:`jikimi.media.truncation`); one that yields no
picture at all fails like a corrupt file.

Lifecycle of one upload::

    bytes ─► check_size ─► sniff ─► open header ─► check_dimensions ─► Picture
                                                                        │ rgb(min_side)
                                              open again ─► draft (JPEG) ─► decode
                                              ─► to RGB ─► EXIF transpose ─► ndarray
                          (YCbCr/grey JPEG: OpenCV at the same DCT scale, same pixels)

Pillow is driven directly through the plugin of the sniffed format (never
``Image.open``, which would try every plugin on hostile bytes) and every call
into it runs inside :func:`_pillow_errors`, which turns any exception into a
typed :class:`~jikimi.errors.MediaError` and silences Pillow's warnings (its
``DecompressionBombWarning`` included: our own limits are the ones that apply).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from PIL import (
    BmpImagePlugin,
    ExifTags,
    GifImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from jikimi.domain import Media, MediaKind
from jikimi.errors import CorruptMedia, MediaError, MediaTooLarge, UnsupportedMedia
from jikimi.media import heif, pngtext
from jikimi.media.jpeg import FAST_MODES, decode_jpeg
from jikimi.media.limits import MediaLimits, check_dimensions, check_size
from jikimi.media.picture import RGB, Metadata, Picture
from jikimi.media.sniff import FileFormat, Sniffed, sniff
from jikimi.media.truncation import complete

_T = TypeVar("_T")

_PLUGINS: dict[FileFormat, type[ImageFile.ImageFile]] = {
    FileFormat.JPEG: JpegImagePlugin.JpegImageFile,
    FileFormat.PNG: PngImagePlugin.PngImageFile,
    FileFormat.WEBP: WebPImagePlugin.WebPImageFile,
    FileFormat.GIF: GifImagePlugin.GifImageFile,
    FileFormat.BMP: BmpImagePlugin.BmpImageFile,
    FileFormat.TIFF: TiffImagePlugin.TiffImageFile,
}
SUPPORTED_IMAGES: tuple[FileFormat, ...] = (*_PLUGINS, *heif.HEIF_FORMATS)
"""The formats :func:`load` decodes (HEIC/HEIF and AVIF through :mod:`jikimi.media.heif`)."""

_SUPPORTED_TEXT = "JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF and AVIF"


def load(data: bytes, limits: MediaLimits) -> Picture:
    """Check and describe an image without decoding its pixels.

    Raises :class:`~jikimi.errors.EmptyMedia`, :class:`~jikimi.errors.MediaTooLarge`
    (bytes or pixels over ``limits``), :class:`~jikimi.errors.UnsupportedMedia`
    (videos, other formats, non-media) or :class:`~jikimi.errors.CorruptMedia`.
    """
    check_size(len(data), limits)
    sniffed = sniff(data)
    plugin = _plugin_for(sniffed, data)
    if sniffed.format is FileFormat.WEBP:
        # Pillow's WebP reader allocates the whole canvas when it opens the file,
        # so the size must be checked from the bytes first.
        check_dimensions(*_webp_canvas_size(data), limits)
    with _pillow_errors(sniffed):
        if sniffed.format is FileFormat.WEBP:
            # Its reader sets up the decoder on open, which a cut file fails:
            # complete first (its size was checked from the bytes above).
            pixels = _completed(data, sniffed, limits)
            im = _open_header(plugin, sniffed, data if pixels is None else pixels)
            check_dimensions(im.width, im.height, limits)
        else:
            im = _open_header(plugin, sniffed, data)
            check_dimensions(im.width, im.height, limits)
            pixels = _completed(data, sniffed, limits)
            if pixels is not None and pixels is not data:
                im = _open_header(plugin, sniffed, pixels)  # frames counted in the copy
        exif = _quietly(lambda: _read_exif(im), None)
        metadata = _read_metadata(im, exif)  # before counting: GIF info is per frame
        if sniffed.format is FileFormat.PNG:
            metadata = _quietly(lambda: pngtext.with_late_text(metadata, data), metadata)
        frames = _frame_count(im)
        heif.check_frames(sniffed.format, frames, limits)
    transpose = _ORIENTATIONS.get(_quietly(lambda: _orientation(exif), 1))
    stored = _stored_size(im)
    width, height = stored[::-1] if transpose in _SWAPS_AXES else stored
    media = Media(
        kind=MediaKind.IMAGE,
        format=sniffed.format.value,
        width=width,
        height=height,
        frames=frames,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        truncated=pixels is not None,
        analysed=heif.analysed(sniffed.format, frames),
    )
    # A truncated file is decoded from its completed copy by Pillow, never the fast path.
    fast = pixels is None and sniffed.format is FileFormat.JPEG and im.mode in FAST_MODES
    decoder = _Decoder(pixels or data, sniffed, plugin, transpose, stored, fast)
    return Picture(media, data, sniffed.mime, metadata, decoder, decoder.scale_of)


def _completed(data: bytes, sniffed: Sniffed, limits: MediaLimits) -> bytes | None:
    """``None`` for a whole file; for a truncated one, the copy to decode (see
    :mod:`jikimi.media.truncation`), never building more than the decode would."""
    return complete(data, sniffed.format, budget=limits.max_pixels * 8)


def _open_header(
    plugin: type[ImageFile.ImageFile], sniffed: Sniffed, data: bytes
) -> ImageFile.ImageFile:
    """Open lazily (header only); a PNG whose ancillary chunks Pillow rejects is
    opened again without them: the metadata is lost, the image is kept."""
    try:
        return plugin(io.BytesIO(data))
    except Exception:
        if sniffed.format is not FileFormat.PNG:
            raise
        pixels_only = _png_pixels_only(data)
        if pixels_only is data:
            raise
        return plugin(io.BytesIO(pixels_only))


_PNG_PIXEL_CHUNKS = frozenset(
    {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"acTL", b"fcTL", b"fdAT"}
)
"""The chunks that decide the pixels we decode (no colour management is done)."""


def _png_pixels_only(data: bytes) -> bytes:
    """The PNG with only the chunks that make its pixels (``data`` itself if nothing else).

    Browsers skip an ancillary chunk they cannot read (a bad checksum, a zTXt
    inflating past 1 MB, an unknown compression method); Pillow refuses the
    whole file. A moderation tool must see what browsers show, so pixels are
    always decoded from this copy (which costs far less than the decode), and
    metadata falls back to it. Whatever follows a malformed length is kept.
    """
    view = memoryview(data)
    kept: list[memoryview] = [view[:8]]
    pos, dropped = 8, False
    while pos + 12 <= len(data):
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + int.from_bytes(data[pos : pos + 4], "big")
        if end > len(data):
            break
        if kind in _PNG_PIXEL_CHUNKS:
            kept.append(view[pos:end])
        else:
            dropped = True
        pos = end
        if kind == b"IEND":
            break
    if not dropped:
        return data
    kept.append(view[pos:])
    return b"".join(kept)


def _stored_size(im: ImageFile.ImageFile) -> tuple[int, int]:
    """Width and height as stored, before EXIF orientation.

    Recent Pillow reports a TIFF's size already oriented (and rotates it when
    loading, see :func:`_pillow_oriented`); the TIFF tags keep the stored size.
    """
    if isinstance(im, TiffImagePlugin.TiffImageFile):
        width, height = im.tag_v2.get(256), im.tag_v2.get(257)
        if isinstance(width, int) and isinstance(height, int):
            return width, height
    return im.size


def _pillow_oriented(im: ImageFile.ImageFile) -> bool:
    """Whether Pillow applied EXIF orientation itself while loading ``im``.

    Pillow (12+) transposes TIFFs in ``load`` and then deletes the Orientation
    tag; older versions leave both alone, and we transpose.
    """
    return (
        isinstance(im, TiffImagePlugin.TiffImageFile) and ExifTags.Base.Orientation not in im.tag_v2
    )


def _plugin_for(sniffed: Sniffed, data: bytes) -> type[ImageFile.ImageFile]:
    plugin = _PLUGINS.get(sniffed.format) or heif.plugin_for(sniffed.format)
    if plugin is not None:
        return plugin
    if sniffed.kind is MediaKind.VIDEO:
        raise UnsupportedMedia(
            f"This is {sniffed.description}; video is not supported yet "
            f"(still images only: {_SUPPORTED_TEXT})."
        )
    if sniffed.kind is MediaKind.IMAGE:
        raise UnsupportedMedia(
            f"This is {sniffed.description}, which jikimi cannot decode; "
            f"supported images are {_SUPPORTED_TEXT}."
        )
    if sniffed.format is FileFormat.UNKNOWN:
        raise UnsupportedMedia(
            "This is not a recognised image or video format "
            f"(the file starts with bytes {data[:8].hex(' ')})."
        )
    raise UnsupportedMedia(f"This is {sniffed.description}, not an image or a video.")


@contextmanager
def _pillow_errors(sniffed: Sniffed) -> Iterator[None]:
    """Run Pillow on untrusted bytes: typed errors out, no warnings.

    Every exception a decoder raises on bad input (OSError, SyntaxError,
    ValueError, struct.error, EOFError, ...) becomes CorruptMedia; our own
    MediaErrors pass through. Warnings are silenced because Pillow warns about
    things we handle (corrupt EXIF, its own pixel limit): ``catch_warnings`` is
    process-global, so a concurrent thread's warning may be hidden meanwhile.
    """
    name = sniffed.format.name.replace("_", " ")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except MediaError:
            raise
        except Image.DecompressionBombError as exc:
            raise MediaTooLarge(f"The {name} image is too large to decode safely: {exc}") from exc
        except Exception as exc:
            detail = str(exc) or type(exc).__name__
            raise CorruptMedia(
                f"The {name} image is truncated or corrupt ({detail[:200]})."
            ) from exc


def _quietly(fn: Callable[[], _T], default: _T) -> _T:
    """Metadata is a bonus: a malformed block is dropped, the image still loads."""
    try:
        return fn()
    except Exception:
        return default


def _webp_canvas_size(data: bytes) -> tuple[int, int]:
    """Width and height from a WebP's first chunk (VP8X, VP8 or VP8L)."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        w = int.from_bytes(data[26:28], "little") & 0x3FFF
        return w, int.from_bytes(data[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise CorruptMedia("The WebP image is truncated or corrupt (no readable image header).")


def _frame_count(im: ImageFile.ImageFile) -> int:
    """Frames (GIF, animated WebP, APNG) or pages (TIFF); only the first is decoded.

    A file whose later frames are damaged still has a usable first frame, so a
    failure while counting reports the one frame we know is there.
    """
    try:
        return max(int(getattr(im, "n_frames", 1)), 1)
    except Exception:
        return 1


# --- decoding ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Decoder:
    """Decodes one file's pixels on demand; called by :meth:`Picture.rgb`."""

    data: bytes
    sniffed: Sniffed
    plugin: type[ImageFile.ImageFile]
    transpose: Image.Transpose | None
    stored_size: tuple[int, int]  # as in the file, before EXIF orientation
    fast: bool = False  # a YCbCr or grey JPEG: decoded by OpenCV (jikimi.media.jpeg)

    def scale_of(self, min_side: int) -> int:
        """The JPEG DCT scale (1, 2, 4, 8) that Pillow's ``draft`` picks for ``min_side``.

        The request is square, ``(min_side, min_side)``, so it means "shorter
        side >= min_side" whichever way EXIF later rotates the image.
        """
        if self.sniffed.format is not FileFormat.JPEG or min_side <= 0:
            return 1
        fits = min(self.stored_size[0] // min_side, self.stored_size[1] // min_side)
        return next(s for s in (8, 4, 2, 1) if fits >= s)

    def __call__(self, min_side: int) -> RGB:
        if self.fast:
            fast = decode_jpeg(self.data, self.scale_of(min_side), self.transpose)
            if fast is not None:
                return fast  # else Pillow decodes it, or says why it cannot
        with _pillow_errors(self.sniffed):
            data = self.data
            if self.sniffed.format is FileFormat.PNG:
                data = _png_pixels_only(data)  # text and others can follow the pixels
            im = self.plugin(io.BytesIO(data))
            if self.scale_of(min_side) > 1:
                im.draft("RGB", (min_side, min_side))
            rgb = _to_rgb(im)
            if self.transpose is not None and not _pillow_oriented(im):
                rgb = rgb.transpose(self.transpose)
            pixels: RGB = np.asarray(rgb, dtype=np.uint8)  # read-only, C-contiguous
        return pixels


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB, decoding ``im`` if it is still lazy.

    - RGB is returned as is (no copy); L, 1, P, CMYK, YCbCr, HSV, LAB convert
      with Pillow.
    - Deeper samples are scaled by the range they imply, not clipped: see
      :func:`_deep_to_gray`.
    - Transparency (alpha bands, palette or colour-key ``transparency``): see
      :func:`_flatten_alpha`.
    """
    im.load()
    mode = im.mode
    if mode in _DEEP_MODES:
        return Image.fromarray(_deep_to_gray(im), "L").convert("RGB")
    if mode in _ALPHA_MODES:
        if _opaque(im):  # the common case: drop alpha without an RGBA copy
            return im.convert("RGB")
        return _flatten_alpha(im.convert("RGBA"))
    if "transparency" in im.info:  # palette or colour-key transparency
        rgba = im.convert("RGBA")
        return rgba.convert("RGB") if _opaque(rgba) else _flatten_alpha(rgba)
    if mode == "RGB":
        return im
    return im.convert("RGB")


_ALPHA_MODES = frozenset({"RGBA", "LA", "PA"})  # as files hold them (not premultiplied)
_DEEP_MODES = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})


def _deep_to_gray(im: Image.Image) -> NDArray[np.uint8]:
    """16-bit, 32-bit and float samples to 0..255 by the range they imply.

    - ``I;16*``: the file declares 16-bit samples (PNG, TIFF): 0..65535, which is
      what every viewer shows (a 16-bit PNG holding 0..255 looks black, so do we).
    - ``I`` (32-bit integer, or signed 16-bit TIFF): no format fixes its range, so
      it is the smallest conventional depth holding the data: 8, 16 or 32 bits.
      Pillow's own ``I`` images hold 0..255; 16-bit scans 0..65535.
    - ``F`` (float TIFF): 0..1 when the data fits (the convention of float
      imaging tools), else 0..255 (Pillow's ``F`` made from 8-bit data), else
      0..65535, else 0..max. NaN and infinities count as 0; negatives clip to 0.
    """
    samples = np.asarray(im).astype(np.float32)
    if im.mode.startswith("I;16"):
        full = 65535.0
    else:
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
        top = float(samples.max(initial=0.0))
        if im.mode == "F":
            full = next((r for r in (1.0, 255.0, 65535.0) if top <= r), top)
        else:
            full = next((r for r in (255.0, 65535.0) if top <= r), 4294967295.0)
    samples *= np.float32(255.0 / full)
    samples += np.float32(0.5)
    gray: NDArray[np.uint8] = np.clip(samples, 0, 255).astype(np.uint8)
    return gray


_DETAIL_SIDE = 256
"""Longest side of the thumbnail on which the alpha flattening is chosen."""


def _opaque(im: Image.Image) -> bool:
    return bool(im.getchannel("A").getextrema()[0] == 255)


def _flatten_alpha(rgba: Image.Image) -> Image.Image:
    """Flatten transparency to what a viewer sees, keeping stored colours if they are the picture.

    Called only when some pixel is not opaque (opaque alpha, the common case,
    is dropped exactly by the caller). Three readings are possible: the stored colours
    (alpha dropped), the image over a white page, or over a black page (dark
    mode). We take the one that shows the most detail (mean luminance gradient
    on a thumbnail; ties in that order). Measured on a photo:

    - alpha vignette over the stored photo: dropping reproduces it exactly,
      compositing over white/black is off by 25 levels per pixel on average;
    - "dark-mode trick" (white colours, the picture drawn in alpha): only the
      composite over black shows it; "light-mode trick" (black colours): only
      white does. Dropping alpha shows a blank image and would hide both.

    The rule never picks a reading with no picture in it, which is what matters
    for moderation; its cost is only paid by images with real transparency.
    """
    factor = max(1, max(rgba.size) // _DETAIL_SIDE)
    small = np.asarray(rgba.reduce(factor) if factor > 1 else rgba, dtype=np.float32)
    colours, opacity = small[..., :3], small[..., 3:] / 255.0
    readings = {
        None: colours,
        255: colours * opacity + 255.0 * (1.0 - opacity),
        0: colours * opacity,
    }
    best = max(readings, key=lambda k: _detail(readings[k]))  # first of equals wins
    if best is None:
        return rgba.convert("RGB")
    page = Image.new("RGBA", rgba.size, (best, best, best, 255))
    return Image.alpha_composite(page, rgba).convert("RGB")


def _detail(rgb: NDArray[np.float32]) -> float:
    gray = rgb.mean(axis=2)
    return float(np.abs(np.diff(gray, axis=0)).mean()) + float(np.abs(np.diff(gray, axis=1)).mean())


# --- EXIF orientation -----------------------------------------------------------

_ORIENTATIONS: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = frozenset(
    {
        Image.Transpose.TRANSPOSE,
        Image.Transpose.ROTATE_270,
        Image.Transpose.TRANSVERSE,
        Image.Transpose.ROTATE_90,
    }
)


def _orientation(exif: Image.Exif | None) -> int:
    """EXIF Orientation (1..8); anything missing or invalid means 1 (as stored).

    Only EXIF counts, not XMP ``tiff:Orientation`` (which Pillow's
    ``exif_transpose`` also reads): browsers rotate by EXIF alone, and we
    analyse what viewers see.
    """
    if exif is None:
        return 1
    value = exif.get(ExifTags.Base.Orientation, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


# --- metadata ---------------------------------------------------------------------


def _read_exif(im: ImageFile.ImageFile) -> Image.Exif | None:
    """The EXIF block from the header only (``getexif`` may decode a PNG)."""
    if isinstance(im, TiffImagePlugin.TiffImageFile):
        return im.getexif()  # the TIFF's own first IFD
    raw = im.info.get("exif")
    if not isinstance(raw, bytes | bytearray) or not raw:
        return None
    exif = Image.Exif()
    exif.load(bytes(raw))
    return exif


def _read_metadata(im: ImageFile.ImageFile, exif: Image.Exif | None) -> Metadata:
    text = _quietly(lambda: _text_chunks(im), dict[str, str]())
    xmp = _quietly(lambda: _xmp(im, text), None)
    text.pop(_PNG_XMP_KEY, None)
    return Metadata(
        text=text,
        exif=_quietly(lambda: _exif_strings(exif), dict[str, str]()),
        xmp=xmp,
    )


_PNG_XMP_KEY = "XML:com.adobe.xmp"


def _text_chunks(im: ImageFile.ImageFile) -> dict[str, str]:
    """PNG tEXt/zTXt/iTXt before the pixels; JPEG COM segments; GIF comment."""
    if isinstance(im, PngImagePlugin.PngImageFile):
        # Not ``im.text``: it decodes the pixels to find chunks after them.
        # Text chunks are the ``str`` values of ``info`` (iTXt is a str subclass);
        # ``xmp`` is Pillow's copy of the XMP iTXt chunk.
        return {
            k: str(v)
            for k, v in im.info.items()
            if isinstance(k, str) and isinstance(v, str) and k != "xmp"
        }
    if isinstance(im, JpegImagePlugin.JpegImageFile):
        comments = [_decode_text(s) for m, s in im.applist if m == "COM"]
        return {"comment": "\n".join(comments)} if comments else {}
    comment = im.info.get("comment")
    if isinstance(comment, bytes | bytearray) and comment:
        return {"comment": _decode_text(bytes(comment))}
    return {}


def _xmp(im: ImageFile.ImageFile, text: dict[str, str]) -> str | None:
    """The XMP packet: JPEG APP1, PNG iTXt (or tEXt/zTXt), WebP chunk, TIFF tag 700."""
    packet: Any = im.info.get("xmp") or text.get(_PNG_XMP_KEY)
    if isinstance(packet, bytes | bytearray) and packet:
        return _decode_xmp(bytes(packet))
    if isinstance(packet, str) and packet:
        return packet.rstrip("\x00")
    return None


def _decode_xmp(raw: bytes) -> str:
    """XMP is UTF-8 unless a byte-order mark says UTF-16/32."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if raw.startswith(bom):
            return raw.decode(codec, errors="replace").rstrip("\x00")
    return raw.decode("utf-8", errors="replace").rstrip("\x00")


_TEXT_CODECS = ("utf-8", "cp949", "latin-1")
"""Comments are UTF-8 today; older Korean software writes CP949 (EUC-KR)."""


def _decode_text(raw: bytes) -> str:
    for codec in _TEXT_CODECS:
        try:
            return raw.decode(codec).rstrip("\x00")
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


_EXIF_IFD = 0x8769
_SKIPPED_TAGS = frozenset(
    {
        ExifTags.Base.ExifOffset,
        ExifTags.Base.GPSInfo,
        ExifTags.Base.ExifInteroperabilityOffset,
        ExifTags.Base.MakerNote,
        ExifTags.Base.PrintImageMatching,
        ExifTags.Base.JpegIFOffset,
        ExifTags.Base.JpegIFByteCount,
        ExifTags.Base.StripOffsets,
        ExifTags.Base.StripByteCounts,
        ExifTags.Base.TileOffsets,
        ExifTags.Base.TileByteCounts,
        ExifTags.Base.XMLPacket,
    }
)
_XP_TAGS = frozenset(  # Windows Explorer's tags: UTF-16LE in a byte array
    {
        ExifTags.Base.XPTitle,
        ExifTags.Base.XPComment,
        ExifTags.Base.XPAuthor,
        ExifTags.Base.XPKeywords,
        ExifTags.Base.XPSubject,
    }
)


def _exif_strings(exif: Image.Exif | None) -> dict[str, str]:
    """EXIF tags of IFD0 and the Exif sub-IFD by name, text values as ``str``.

    Numbers become their decimal text; binary blobs (MakerNote, thumbnails,
    offsets) and tags Pillow cannot name are left out. A malformed sub-IFD
    loses only that IFD's tags.
    """
    if exif is None:
        return {}
    found: dict[str, str] = {}
    no_tags = dict[int, Any]()
    for tags in (_quietly(lambda: dict(exif), no_tags), _quietly(lambda: _exif_ifd(exif), no_tags)):
        for tag, value in tags.items():
            name = ExifTags.TAGS.get(tag)
            if name is not None and tag not in _SKIPPED_TAGS:
                text = _exif_value(tag, value)
                if text:
                    found[name] = text
    return found


def _exif_ifd(exif: Image.Exif) -> dict[int, Any]:
    return dict(exif.get_ifd(_EXIF_IFD))


def _exif_value(tag: int, value: Any) -> str | None:
    try:
        return _exif_text(tag, value)
    except (UnicodeDecodeError, ValueError, TypeError):
        return None


def _exif_text(tag: int, value: Any) -> str | None:
    if tag == ExifTags.Base.UserComment and isinstance(value, bytes | bytearray):
        return _decode_user_comment(bytes(value))
    if tag in _XP_TAGS:
        raw = bytes(value) if isinstance(value, bytes | bytearray | tuple) else b""
        return raw.decode("utf-16-le", errors="replace").rstrip("\x00").strip() or None
    if isinstance(value, str):
        return value.rstrip("\x00").strip() or None
    if isinstance(value, bytes | bytearray):
        text = bytes(value).rstrip(b"\x00")
        return text.decode("ascii") if text.isascii() and text.decode().isprintable() else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | TiffImagePlugin.IFDRational):
        return str(value)
    return None


def _decode_user_comment(raw: bytes) -> str:
    """EXIF UserComment: an 8-byte character-code prefix, then the text.

    ``UNICODE`` is UTF-16 with no agreed byte order: piexif (and so
    AUTOMATIC1111's generation parameters) writes big-endian, other tools
    little-endian. Both are tried and the one that reads as text wins
    (big-endian on a tie).

    >>> _decode_user_comment(b"ASCII\\0\\0\\0steps: 20")
    'steps: 20'
    >>> _decode_user_comment(b"UNICODE\\0" + "a cat".encode("utf-16-le"))
    'a cat'
    """
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\x00":
        text = _decode_utf16(body)
    elif prefix == b"JIS\x00\x00\x00\x00\x00":
        text = _decode_jis(body)
    elif prefix in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        text = _decode_text(body)  # "ASCII" often holds UTF-8 in practice
    else:
        text = _decode_text(raw)  # no prefix: written by a careless tool
    return text.replace("\x00", "").strip()


def _decode_utf16(body: bytes) -> str:
    if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return body.decode("utf-16", errors="replace")
    body = body[: len(body) // 2 * 2]
    big = body.decode("utf-16-be", errors="replace")
    little = body.decode("utf-16-le", errors="replace")
    return little if _textiness(little) > _textiness(big) else big


def _textiness(text: str) -> int:
    """Byte-swapped UTF-16 text is full of CJK-looking characters and U+XX00
    separators; the right byte order has ASCII, spaces and no replacement marks."""
    score = 0
    for c in text:
        if c == "\ufffd" or not (c.isprintable() or c in "\t\r\n"):
            continue
        score += 2 if c.isascii() else 1
    return score


def _decode_jis(body: bytes) -> str:
    """JIS X 0208 text, with or without ISO-2022 escapes; Shift-JIS as written in practice."""
    attempts = (
        (body, "iso2022_jp"),
        (b"\x1b$B" + body + b"\x1b(B", "iso2022_jp"),
        (body, "shift_jis"),
    )
    for candidate, codec in attempts:
        try:
            return candidate.decode(codec)
        except UnicodeDecodeError:
            continue
    return body.decode("latin-1")

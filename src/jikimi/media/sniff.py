"""Tell what a file is from its first bytes, never from its name.

Uploads lie about their extension (a ``.jpg`` that is a PNG, a ``.png`` that is
an MP4, a ``.gif`` that is a PDF), and a hostile file must never reach a decoder
chosen by its name. So every door asks :func:`sniff` first: it looks only at
magic bytes, needs only the first 64 bytes (the CLI sniffs a prefix to skip
non-media files in a folder; MPEG transport streams alone need 377 bytes to be
told from text), and never fails. It also recognises common
non-media files (documents, archives, audio, text) so that an error can say what
it saw ("this is a PDF document") instead of "unknown format".

``kind`` tells images from videos; it is ``None`` for anything that is neither.
Whether jikimi can *decode* a format is :mod:`jikimi.media.image`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jikimi.domain import MediaKind

SNIFF_BYTES = 64
"""The longest prefix :func:`sniff` looks at."""


class FileFormat(StrEnum):
    """What a file is, by its magic bytes. Values are stable lowercase names."""

    # still images
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    GIF = "gif"
    BMP = "bmp"
    TIFF = "tiff"
    HEIC = "heic"
    AVIF = "avif"
    JPEG2000 = "jp2"
    JPEGXL = "jxl"
    ICO = "ico"
    PSD = "psd"
    SVG = "svg"
    # videos
    MP4 = "mp4"
    MOV = "mov"
    WEBM = "webm"
    MKV = "mkv"
    AVI = "avi"
    FLV = "flv"
    WMV = "wmv"
    MPEG = "mpeg"
    MPEG_TS = "mpegts"
    # audio
    MP3 = "mp3"
    M4A = "m4a"
    WAV = "wav"
    FLAC = "flac"
    OGG = "ogg"
    # documents, archives, programs, text
    PDF = "pdf"
    ZIP = "zip"
    GZIP = "gzip"
    SEVEN_ZIP = "7z"
    RAR = "rar"
    ELF = "elf"
    EXE = "exe"
    HTML = "html"
    XML = "xml"
    TEXT = "text"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Sniffed:
    """The verdict of :func:`sniff`.

    ``description`` is a noun phrase for messages ("a PDF document").
    """

    format: FileFormat
    mime: str
    kind: MediaKind | None
    description: str


_IMAGE, _VIDEO = MediaKind.IMAGE, MediaKind.VIDEO

_INFO: dict[FileFormat, tuple[str, MediaKind | None, str]] = {
    FileFormat.JPEG: ("image/jpeg", _IMAGE, "a JPEG image"),
    FileFormat.PNG: ("image/png", _IMAGE, "a PNG image"),
    FileFormat.WEBP: ("image/webp", _IMAGE, "a WebP image"),
    FileFormat.GIF: ("image/gif", _IMAGE, "a GIF image"),
    FileFormat.BMP: ("image/bmp", _IMAGE, "a BMP image"),
    FileFormat.TIFF: ("image/tiff", _IMAGE, "a TIFF image"),
    FileFormat.HEIC: ("image/heic", _IMAGE, "a HEIC/HEIF image"),
    FileFormat.AVIF: ("image/avif", _IMAGE, "an AVIF image"),
    FileFormat.JPEG2000: ("image/jp2", _IMAGE, "a JPEG 2000 image"),
    FileFormat.JPEGXL: ("image/jxl", _IMAGE, "a JPEG XL image"),
    FileFormat.ICO: ("image/vnd.microsoft.icon", _IMAGE, "a Windows icon"),
    FileFormat.PSD: ("image/vnd.adobe.photoshop", _IMAGE, "a Photoshop document"),
    FileFormat.SVG: ("image/svg+xml", _IMAGE, "an SVG vector image"),
    FileFormat.MP4: ("video/mp4", _VIDEO, "an MP4 video"),
    FileFormat.MOV: ("video/quicktime", _VIDEO, "a QuickTime (MOV) video"),
    FileFormat.WEBM: ("video/webm", _VIDEO, "a WebM video"),
    FileFormat.MKV: ("video/x-matroska", _VIDEO, "a Matroska (MKV) video"),
    FileFormat.AVI: ("video/x-msvideo", _VIDEO, "an AVI video"),
    FileFormat.FLV: ("video/x-flv", _VIDEO, "a Flash (FLV) video"),
    FileFormat.WMV: ("video/x-ms-wmv", _VIDEO, "a Windows Media (ASF/WMV) video"),
    FileFormat.MPEG: ("video/mpeg", _VIDEO, "an MPEG video"),
    FileFormat.MPEG_TS: ("video/mp2t", _VIDEO, "an MPEG transport stream"),
    FileFormat.MP3: ("audio/mpeg", None, "an MP3 audio file"),
    FileFormat.M4A: ("audio/mp4", None, "an MPEG-4 audio file"),
    FileFormat.WAV: ("audio/wav", None, "a WAV audio file"),
    FileFormat.FLAC: ("audio/flac", None, "a FLAC audio file"),
    FileFormat.OGG: ("audio/ogg", None, "an Ogg audio file"),
    FileFormat.PDF: ("application/pdf", None, "a PDF document"),
    FileFormat.ZIP: ("application/zip", None, "a ZIP archive (or an Office document)"),
    FileFormat.GZIP: ("application/gzip", None, "a gzip archive"),
    FileFormat.SEVEN_ZIP: ("application/x-7z-compressed", None, "a 7-Zip archive"),
    FileFormat.RAR: ("application/vnd.rar", None, "a RAR archive"),
    FileFormat.ELF: ("application/x-executable", None, "a Linux program (ELF)"),
    FileFormat.EXE: ("application/vnd.microsoft.portable-executable", None, "a Windows program"),
    FileFormat.HTML: ("text/html", None, "an HTML page"),
    FileFormat.XML: ("application/xml", None, "an XML document"),
    FileFormat.TEXT: ("text/plain", None, "a text file"),
    FileFormat.UNKNOWN: ("application/octet-stream", None, "a file of unknown type"),
}

# Fixed signatures at offset 0, checked in order (longer, more specific first).
_PREFIXES: tuple[tuple[bytes, FileFormat], ...] = (
    (b"\x89PNG\r\n\x1a\n", FileFormat.PNG),
    (b"\xff\xd8\xff", FileFormat.JPEG),
    (b"GIF87a", FileFormat.GIF),
    (b"GIF89a", FileFormat.GIF),
    (b"II*\x00", FileFormat.TIFF),
    (b"MM\x00*", FileFormat.TIFF),
    (b"II+\x00", FileFormat.TIFF),  # BigTIFF
    (b"MM\x00+", FileFormat.TIFF),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", FileFormat.JPEG2000),
    (b"\xff\x4f\xff\x51", FileFormat.JPEG2000),  # raw codestream
    (b"\xff\x0a", FileFormat.JPEGXL),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", FileFormat.JPEGXL),
    (b"8BPS", FileFormat.PSD),
    (b"\x00\x00\x01\x00", FileFormat.ICO),
    (b"FLV\x01", FileFormat.FLV),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", FileFormat.WMV),
    (b"\x00\x00\x01\xba", FileFormat.MPEG),
    (b"\x00\x00\x01\xb3", FileFormat.MPEG),
    (b"ID3", FileFormat.MP3),
    (b"fLaC", FileFormat.FLAC),
    (b"OggS", FileFormat.OGG),
    (b"%PDF-", FileFormat.PDF),
    (b"PK\x03\x04", FileFormat.ZIP),
    (b"PK\x05\x06", FileFormat.ZIP),
    (b"\x1f\x8b", FileFormat.GZIP),
    (b"7z\xbc\xaf\x27\x1c", FileFormat.SEVEN_ZIP),
    (b"Rar!\x1a\x07", FileFormat.RAR),
    (b"\x7fELF", FileFormat.ELF),
    (b"MZ", FileFormat.EXE),
)

_RIFF_TYPES = {b"WEBP": FileFormat.WEBP, b"AVI ": FileFormat.AVI, b"WAVE": FileFormat.WAV}

# ISO base media (``ftyp``) brands that are still images or audio; any other
# brand (isom, mp41, mp42, avc1, 3gp4, dash, ...) is a video. HEIF brands:
# heic/heix (HEVC stills, 8 and 10 bit), heim/heis (multi-layer, scalable),
# hevc/hevx (HEVC image sequences), mif1/mif2/mif3 and msf1 (the structural
# still and sequence brands, whatever the codec).
_FTYP_BRANDS = {
    b"heic": FileFormat.HEIC,
    b"heix": FileFormat.HEIC,
    b"heim": FileFormat.HEIC,
    b"heis": FileFormat.HEIC,
    b"hevc": FileFormat.HEIC,
    b"hevx": FileFormat.HEIC,
    b"hevm": FileFormat.HEIC,
    b"hevs": FileFormat.HEIC,
    b"mif1": FileFormat.HEIC,
    b"mif2": FileFormat.HEIC,
    b"mif3": FileFormat.HEIC,
    b"msf1": FileFormat.HEIC,
    b"avif": FileFormat.AVIF,
    b"avis": FileFormat.AVIF,
    b"avio": FileFormat.AVIF,
    b"qt  ": FileFormat.MOV,
    b"M4A ": FileFormat.M4A,
    b"M4B ": FileFormat.M4A,
    b"M4P ": FileFormat.M4A,
}

# QuickTime files written before ``ftyp`` existed start with one of these atoms.
_QT_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})

# Sizes of the BMP info header variants (BITMAPCOREHEADER .. BITMAPV5HEADER).
_BMP_DIB_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def sniff(data: bytes) -> Sniffed:
    """Identify ``data`` by its magic bytes; never raises.

    >>> sniff(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(24)).format
    <FileFormat.PNG: 'png'>
    >>> sniff(b"%PDF-1.7").description
    'a PDF document'
    """
    head = bytes(data[:SNIFF_BYTES])
    fmt = (
        _by_prefix(head)
        or _by_container(head)
        or _mpeg_ts(data)
        or _by_text(head)
        or FileFormat.UNKNOWN
    )
    mime, kind, description = _INFO[fmt]
    return Sniffed(format=fmt, mime=mime, kind=kind, description=description)


def _by_container(head: bytes) -> FileFormat | None:
    """Formats recognised by a structure rather than a fixed prefix."""
    if head.startswith(b"RIFF") and len(head) >= 12:
        return _RIFF_TYPES.get(head[8:12])
    # Boxes/atoms start with a big-endian size; the first ones are small.
    if head[:1] == b"\x00" and head[4:8] == b"ftyp":
        return _ftyp_format(head)
    if head[:1] == b"\x00" and head[4:8] in _QT_ATOMS:
        return FileFormat.MOV
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska family
        return FileFormat.WEBM if b"webm" in head else FileFormat.MKV
    if head.startswith(b"BM") and len(head) >= 18:
        return FileFormat.BMP if int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES else None
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return FileFormat.MP3  # MPEG audio frame sync, layer bits set
    return None


# Compatible brands that make a structural HEIF file (mif1, msf1) an AVIF one.
_AV1_BRANDS = frozenset({b"avif", b"avis", b"avio", b"MA1A", b"MA1B"})


def _ftyp_format(head: bytes) -> FileFormat:
    """An ISO base media file: image (HEIF/AVIF), audio (M4A) or video by its brands.

    The structural brands (``mif1``, ``msf1``) say only "HEIF": the codec shows
    in the compatible brands, read as far as the ``ftyp`` box and the prefix go.
    """
    major = head[8:12]
    fmt = _FTYP_BRANDS.get(major)
    if fmt is None:
        return FileFormat.MP4
    if fmt is FileFormat.HEIC:
        end = min(int.from_bytes(head[:4], "big"), len(head))
        compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
        if compatible & _AV1_BRANDS:
            return FileFormat.AVIF
    return fmt


def _mpeg_ts(data: bytes) -> FileFormat | None:
    """A transport stream: 188-byte packets, each starting with the sync byte 0x47.

    One sync byte is just the letter "G", so this needs the first two packets'
    worth of bytes (more than :data:`SNIFF_BYTES`); a short prefix is not a TS.
    """
    if len(data) > 2 * 188 and data[0] == data[188] == data[376] == 0x47:
        return FileFormat.MPEG_TS
    return None


def _by_prefix(head: bytes) -> FileFormat | None:
    for magic, fmt in _PREFIXES:
        if head.startswith(magic):
            return fmt
    return None


def _by_text(head: bytes) -> FileFormat | None:
    """Markup and plain text (UTF-8, optional BOM), for helpful error messages."""
    text = head.removeprefix(b"\xef\xbb\xbf")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character may be cut off at the end of the prefix.
        if exc.reason != "unexpected end of data":
            return None
        decoded = text[: exc.start].decode("utf-8")
    if not decoded or not all(c.isprintable() or c in "\t\r\n\f" for c in decoded):
        return None
    lowered = decoded.lstrip().lower()
    if lowered.startswith(("<!doctype html", "<html", "<head", "<body")):
        return FileFormat.HTML
    if lowered.startswith("<svg") or (lowered.startswith("<?xml") and "<svg" in lowered):
        return FileFormat.SVG
    if lowered.startswith("<?xml"):
        return FileFormat.XML
    return FileFormat.TEXT

"""Truncated images: tell that bytes are missing at the end, and complete a copy to decode.

A copy of a banked image with its last bytes cut (an interrupted download, a
careless re-upload, or an attacker's ``head -c -2``) is shown by every browser,
almost or exactly as the original. Refusing it as corrupt would let known
content through, so a file whose own framing says it ends early is decoded as
far as it goes, hashed, graded, and marked ``Media.truncated`` (the policy holds
it when nothing else does). Only a file that yields no picture at all is refused.

Why the bytes are completed instead of using Pillow's truncated mode
    Pillow's tolerance is ``ImageFile.LOAD_TRUNCATED_IMAGES``, one process-global
    flag read by every decode in every thread: turning it on for one file would
    make every concurrent decode tolerant too, and a truncated file decoded then
    would not be marked. Instead :func:`complete` returns a copy that ends
    properly (what Pillow's truncated mode would have fed its decoders), which the
    strict decoders then read. Nothing global changes.

Per format (:func:`complete`)
    * JPEG: the marker segments are walked to the first SOS; if no EOI marker
      follows, one is appended (what Pillow's truncated mode does): libjpeg
      finishes the picture with the blocks it has (progressive files: every
      scan that arrived, at lower detail). A file cut inside its headers, or
      before the first byte of scan data, has no picture and is not completed.
    * PNG: the IDAT data that arrived is inflated as far as it goes, padded with
      zero bytes to the size IHDR implies (black rows), and stored again in one
      IDAT after the chunks that preceded the pixels (metadata kept), then IEND.
      Nothing inflated: no picture, not completed.
    * GIF: the blocks are walked; a cut sub-block is shortened to what arrived,
      zero codes fill the frame's missing pixels (colour 0), then a block
      terminator and the trailer close the file.
    * BMP: the pixel array (uncompressed or bit fields) is padded with zeros;
      a file cut before it has no picture.
    * WebP: the RIFF header says how long the file is; the missing bytes are
      zeros (libwebp then decodes the picture: lossy and lossless files cut to
      nine tenths stay within PDQ's 31 bits of the whole). A cut header, or a
      file missing more than it holds, is not completed (the length is only a
      claim: padding to it must not cost more memory than the file's own size).
    * TIFF: the first image directory says where its strips (or tiles) end;
      the missing bytes are zeros, if no more is missing than arrived. A file
      whose directory is cut, or comes after the pixels (as many writers put
      it), has no picture to complete.

A file with no picture at all is returned as it is, and its strict decode
refuses it (``corrupt_media``).

The hashes of the bytes (SHA-256, MD5) are of the file as received, so they
differ from the original's; the perceptual hash is of the decoded pixels and
stays near the original's while most of the picture is there.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

from jikimi.media.sniff import FileFormat

_JPEG_EOI: Final = b"\xff\xd9"
_JPEG_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0..7: no length


def complete(data: bytes, fmt: FileFormat, budget: int) -> bytes | None:
    """``None`` if ``data`` ends where its framing says; else a completed copy to decode.

    The copy is ``data`` itself when the format cannot be completed (the strict
    decode then decides), or when completing would build more than ``budget``
    bytes of pixel data (call it after the header's pixel size was checked).
    Never raises on any input.
    """
    try:
        if fmt is FileFormat.JPEG:
            return _jpeg(data)
        if fmt is FileFormat.PNG:
            return _png(data, budget)
        if fmt is FileFormat.GIF:
            return _gif(data, budget)
        if fmt is FileFormat.BMP:
            return _bmp(data, budget)
        if fmt is FileFormat.WEBP:
            return _webp(data, budget)
        if fmt is FileFormat.TIFF:
            return _tiff(data, budget)
    except (ValueError, IndexError, struct.error):  # pragma: no cover - walkers check bounds
        return data
    return None


# --- JPEG ---------------------------------------------------------------------------


def _jpeg(data: bytes) -> bytes | None:
    pos = 2  # after SOI
    while True:
        while pos < len(data) and data[pos] != 0xFF:
            pos += 1  # garbage between segments: libjpeg skips it too
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1  # fill bytes
        if pos >= len(data):
            return data  # cut inside the headers: nothing to complete
        marker = data[pos]
        pos += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker == 0xD9:
            return None  # EOI before any scan: not a truncation (strict decode judges)
        if pos + 2 > len(data):
            return data
        end = pos + int.from_bytes(data[pos : pos + 2], "big")
        if end > len(data):
            return data
        if marker == 0xDA:  # SOS: entropy-coded data follows, where 0xFF is stuffed
            if data.find(_JPEG_EOI, end) >= 0:
                return None
            return data + _JPEG_EOI if len(data) > end else data  # no scan data: no picture
        pos = end


# --- PNG ----------------------------------------------------------------------------

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS: Final = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7: Final = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
_ADAM7_LAST: Final = (0, 1, 1, 2)
_INFLATE_PIECE: Final = 1 << 16


def _png(data: bytes, budget: int) -> bytes | None:
    head: list[bytes] = []  # whole chunks before the first IDAT
    idat: list[bytes] = []
    ihdr: bytes | None = None
    pos, in_pixels = 8, False
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        body_end = pos + 8 + length
        if kind == b"IEND":  # whole, or cut in its checksum (decodes as it is)
            return None if pos + 12 <= len(data) else data
        whole = body_end + 4 <= len(data)
        if kind == b"IDAT":
            in_pixels = True
            idat.append(data[pos + 8 : min(body_end, len(data))])
        elif not in_pixels and whole:
            head.append(data[pos : body_end + 4])
            if kind == b"IHDR":
                ihdr = data[pos + 8 : body_end]
        if not whole:
            break
        pos = body_end + 4
    if ihdr is None or len(ihdr) != 13 or not idat:
        return data  # cut before any pixel: nothing to complete
    size = _png_raw_size(ihdr)
    if size > budget:
        return data
    raw = _inflate_some(b"".join(idat), size)
    if raw is None:
        return data
    pixels = _png_chunk(b"IDAT", zlib.compress(raw, 1))
    return b"".join([_PNG_SIGNATURE, *head, pixels, _png_chunk(b"IEND", b"")])


def _png_raw_size(ihdr: bytes) -> int:
    """Bytes of filtered scanlines IHDR implies (every Adam7 pass when interlaced)."""
    fields: tuple[int, ...] = struct.unpack(">IIBBBBB", ihdr)
    width, height, depth, colour, _c, _f, interlace = fields
    bits = _PNG_CHANNELS.get(colour, 4) * depth
    if not interlace:
        return height * (1 + (width * bits + 7) // 8)
    total = 0
    for x0, y0, dx, dy in (*_ADAM7, _ADAM7_LAST):
        cols, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if cols > 0 and rows > 0:
            total += rows * (1 + (cols * bits + 7) // 8)
    return total


def _inflate_some(stream: bytes, size: int) -> bytearray | None:
    """What a cut zlib stream inflates to (``None`` if nothing), zero-padded to ``size``."""
    inflater = zlib.decompressobj()
    out = bytearray(size)  # zeros: the rows that did not arrive
    filled = 0
    for at in range(0, len(stream), _INFLATE_PIECE):
        try:
            piece = inflater.decompress(stream[at : at + _INFLATE_PIECE], size - filled)
        except zlib.error:
            break  # corrupt from here on: keep what came before
        out[filled : filled + len(piece)] = piece
        filled += len(piece)
        if filled >= size or inflater.eof:
            break
    return out if filled else None


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


# --- GIF ----------------------------------------------------------------------------


def _gif(data: bytes, budget: int) -> bytes | None:
    if len(data) < 13:
        return data
    pos = 13
    if data[10] & 0x80:  # global colour table
        pos += 3 << ((data[10] & 7) + 1)
    while pos < len(data):
        introducer = data[pos]
        if introducer == 0x3B:
            return None
        if introducer == 0x21:  # extension: label, then sub-blocks
            end = _sub_blocks_end(data, pos + 2)
            if end is None:
                return data[:pos] + b"\x3b"
            pos = end
        elif introducer == 0x2C:  # image: descriptor, local table, LZW size, sub-blocks
            if pos + 10 > len(data):
                return data[:pos] + b"\x3b"
            start = pos + 10
            if data[pos + 9] & 0x80:
                start += 3 << ((data[pos + 9] & 7) + 1)
            start += 1  # LZW minimum code size
            if start >= len(data):
                return data[:pos] + b"\x3b"
            end = _sub_blocks_end(data, start)
            if end is None:
                width, height = struct.unpack("<HH", data[pos + 5 : pos + 9])
                pad = width * height * 3 // 2 + 2  # one 12-bit code per pixel at most
                return _close_image(data, start, pad) if pad <= budget else data
            pos = end
        else:
            return None  # not GIF framing (garbage after the images): the decoder judges
    return data + b"\x3b"  # every block whole, the trailer missing


def _sub_blocks_end(data: bytes, pos: int) -> int | None:
    """Where a run of sub-blocks ends (after its terminator), ``None`` if it is cut."""
    while pos < len(data):
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos
    return None


def _close_image(data: bytes, pos: int, pad: int) -> bytes:
    """The image data from ``pos`` with its cut sub-block shortened, then ``pad``
    bytes of zero codes, a terminator and the trailer.

    Pillow's GIF decoder wants every pixel of the frame before it stops; a zero
    code is colour 0 (one pixel), so the missing pixels decode as colour 0
    rows, as browsers leave them blank. Interlaced GIFs (Pillow writes them by
    default) have every fourth row or more of the whole picture early on.
    """
    while pos < len(data) and pos + 1 + data[pos] <= len(data):
        pos += 1 + data[pos]
    parts, rest = [data[:pos]], len(data) - pos - 1
    if rest > 0:
        parts.append(bytes([rest]) + data[pos + 1 :])
    full, last = divmod(pad, 255)
    parts.append((b"\xff" + bytes(255)) * full)
    if last:
        parts.append(bytes([last]) + bytes(last))
    parts.append(b"\x00\x3b")
    return b"".join(parts)


# --- BMP ----------------------------------------------------------------------------

_BMP_RAW: Final = frozenset({0, 3, 6})  # BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS


def _bmp(data: bytes, budget: int) -> bytes | None:
    if len(data) < 26:
        return data
    offset = int.from_bytes(data[10:14], "little")
    header = int.from_bytes(data[14:18], "little")
    if header == 12:  # OS/2 core header
        width, height = struct.unpack("<HH", data[18:22])
        bits, compression = int.from_bytes(data[24:26], "little"), 0
    elif len(data) >= 34:
        width, height = struct.unpack("<ii", data[18:26])
        bits = int.from_bytes(data[28:30], "little")
        compression = int.from_bytes(data[30:34], "little")
    else:
        return data
    if compression not in _BMP_RAW or width <= 0 or not 0 < bits <= 32:
        return None  # compressed BMPs are left to the strict decoder
    stride = (width * bits + 31) // 32 * 4
    end = offset + stride * abs(height)
    if len(data) >= end:
        return None
    if len(data) <= offset or end - len(data) > budget:
        return data
    return data + bytes(end - len(data))


# --- WebP and TIFF: zeros up to a length the header claims --------------------------


def _padded(data: bytes, length: int, budget: int) -> bytes:
    """``data`` padded with zeros to ``length``, if at most as much is missing as
    arrived (and within ``budget``); else ``data`` as it is.

    The claimed length is a header field, not a pixel size: a 3 KB file claiming
    480 MB would otherwise cost gigabytes to decode (found by the fuzz harness).
    A copy missing more than half has no picture worth matching anyway.
    """
    missing = length - len(data)
    if missing > len(data) or missing > budget:
        return data
    return data + bytes(missing)


# --- WebP ---------------------------------------------------------------------------


def _webp(data: bytes, budget: int) -> bytes | None:
    if len(data) < 30:
        return data  # not even the first chunk's header: no picture
    declared = int.from_bytes(data[4:8], "little") + 8
    if len(data) >= declared:
        return None
    return _padded(data, declared, budget)


# --- TIFF ---------------------------------------------------------------------------

_TIFF_TYPES: Final = {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}  # SHORT, LONG, LONG8
_TIFF_OFFSETS: Final = ((273, 279), (324, 325))  # strips, tiles: offsets and byte counts


def _tiff(data: bytes, budget: int) -> bytes | None:
    """Pad to where the first image's strips or tiles end (classic TIFF only)."""
    if len(data) < 8 or data[2:4] not in (b"*\x00", b"\x00*"):
        return data  # BigTIFF and anything else: the strict decoder decides
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", data[4:8])[0]
    if ifd + 2 > len(data):
        return data
    count = struct.unpack(order + "H", data[ifd : ifd + 2])[0]
    if ifd + 2 + 12 * count > len(data):
        return data  # the directory itself is cut
    tags: dict[int, list[int]] = {}
    for i in range(count):
        tag, kind, n, value = struct.unpack(
            order + "HHI4s", data[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        )
        if tag in (273, 279, 324, 325) and kind in _TIFF_TYPES:
            code, size = _TIFF_TYPES[kind]
            raw = value if n * size <= 4 else _tiff_array(data, order, value, n * size)
            if raw is None:
                return data
            tags[tag] = list(struct.unpack(f"{order}{n}{code}", raw[: n * size]))
    for offsets, counts in _TIFF_OFFSETS:
        if offsets in tags and counts in tags and len(tags[offsets]) == len(tags[counts]):
            end = max((o + c for o, c in zip(tags[offsets], tags[counts], strict=True)), default=0)
            if len(data) >= end:
                return None
            return _padded(data, end, budget)
    return data


def _tiff_array(data: bytes, order: str, pointer: bytes, size: int) -> bytes | None:
    at = struct.unpack(order + "I", pointer)[0]
    return data[at : at + size] if at + size <= len(data) else None

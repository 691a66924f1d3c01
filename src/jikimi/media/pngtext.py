"""PNG text chunks written after the pixel data, read without decoding the pixels.

The PNG format lets ``tEXt``/``zTXt``/``iTXt`` chunks come after ``IDAT``, and
some tools write them there (generation parameters included). Pillow reports
only the chunks before the pixels until the image is decoded, and decoding just
to find text would cost a full decode of every PNG. This walks the chunk list
instead: lengths only, pixel chunks skipped, each compressed text inflated
within a bound, the total capped. Chunks with a bad length end the walk; text
that does not inflate is dropped (metadata never makes an image unloadable).
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Final

from PIL import PngImagePlugin

from jikimi.media.picture import Metadata

MAX_TEXT_BYTES: Final = 8 * 1024 * 1024
"""Most text read after the pixels, inflated (a ComfyUI workflow is far smaller)."""

MAX_CHUNK_BYTES: Final = PngImagePlugin.MAX_TEXT_CHUNK
"""One chunk's inflated text at most: Pillow's cap for chunks before the pixels (1 MB),
so a chunk counts the same wherever it is."""

_MAX_CHUNKS: Final = 10_000
_TEXT_CHUNKS: Final = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_XMP_KEY: Final = "XML:com.adobe.xmp"


def with_late_text(metadata: Metadata, data: bytes) -> Metadata:
    """``metadata`` plus the text chunks that follow the first ``IDAT`` of PNG ``data``.

    Keys already read (from chunks before the pixels) keep their value; an XMP
    packet found late fills ``xmp`` if there was none.
    """
    late = text_after_pixels(data)
    if not late:
        return metadata
    xmp = metadata.xmp or late.pop(_XMP_KEY, None)
    late.pop(_XMP_KEY, None)
    text = {**late, **metadata.text}
    return dataclasses.replace(metadata, text=text, xmp=xmp)


def text_after_pixels(data: bytes) -> dict[str, str]:
    """Text chunks after the first ``IDAT`` (first value wins for a repeated key)."""
    found: dict[str, str] = {}
    budget = MAX_TEXT_BYTES
    pos, seen_pixels = 8, False
    for _ in range(_MAX_CHUNKS):
        if pos + 12 > len(data) or budget <= 0:
            break
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            break
        if kind == b"IDAT":
            seen_pixels = True
        elif kind == b"IEND":
            break
        elif seen_pixels and kind in _TEXT_CHUNKS and _crc_ok(data, pos, length):
            parsed = _text_chunk(
                kind, data[pos + 8 : pos + 8 + length], min(budget, MAX_CHUNK_BYTES)
            )
            if parsed is not None and parsed[0] not in found:
                found[parsed[0]] = parsed[1]
                budget -= len(parsed[1])
        pos = end
    return found


def _crc_ok(data: bytes, pos: int, length: int) -> bool:
    """A chunk whose checksum fails is skipped, as browsers and Pillow skip it."""
    stored = int.from_bytes(data[pos + 8 + length : pos + 12 + length], "big")
    return zlib.crc32(data[pos + 4 : pos + 8 + length]) == stored


def _text_chunk(kind: bytes, body: bytes, budget: int) -> tuple[str, str] | None:
    key, sep, rest = body.partition(b"\x00")
    if not sep or not 1 <= len(key) <= 79:
        return None
    name = key.decode("latin-1")
    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        raw = _inflate(rest[1:], budget) if rest[:1] == b"\x00" else None
        return (name, raw.decode("latin-1")) if raw is not None else None
    # iTXt: compression flag, method, language tag \0, translated keyword \0, text
    if len(rest) < 2:
        return None
    flag, method, tail = rest[0], rest[1], rest[2:]
    parts = tail.split(b"\x00", 2)
    if len(parts) != 3:
        return None
    payload: bytes | None = parts[2]
    if flag == 1:
        payload = _inflate(parts[2], budget) if method == 0 else None
    if payload is None:
        return None
    return name, payload.decode("utf-8", errors="replace")


def _inflate(compressed: bytes, budget: int) -> bytes | None:
    """zlib data inflated to at most ``budget`` bytes; None if corrupt or larger."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(compressed, budget + 1)
    except zlib.error:
        return None
    return out if len(out) <= budget else None

"""Generation records hidden in the pixels' lowest bits ("stealth pnginfo").

AUTOMATIC1111's stealth-pnginfo extension (and Forge, SD.Next, which ship it)
and NovelAI write the generation record into the least significant bit of
each pixel, so it survives metadata stripping (but not a lossy re-encode or a
resize). The layout, from the extension's reader::

    bits, in column-major order (x outer, y inner), one per pixel of alpha
    ("stealth_png*") or three per pixel, R G B ("stealth_rgb*"):

      120 bits  signature  stealth_pnginfo | stealth_pngcomp    (alpha)
                           stealth_rgbinfo | stealth_rgbcomp    (RGB)
       32 bits  N, the payload's length in bits (big-endian)
        N bits  payload: UTF-8 text, gzip-compressed for *comp

The payload is A1111's ``parameters`` text, or NovelAI's PNG text chunks as one
JSON object (``Software``, ``Source``, ``Comment``); it is read by the same
recognisers as the metadata (:mod:`.generators`), and a signature whose payload
no recogniser reads is still moderate evidence: only these tools write it. Any
image can carry the bits by chance only with odds of 2**-120.
"""

from __future__ import annotations

import json
import zlib
from typing import Final

import numpy as np
from numpy.typing import NDArray

from jikimi.detectors.synthetic.base import Checker
from jikimi.detectors.synthetic.generators import RECORDS, Finding, strongest
from jikimi.domain import Evidence, EvidenceKind, Strength
from jikimi.media.picture import Metadata, Picture
from jikimi.media.samples import alpha_plane

SIGNATURES: Final = {
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False),
    b"stealth_rgbcomp": ("rgb", True),
}
_SIGNATURE_BITS: Final = 120
_LENGTH_BITS: Final = 32
MAX_PAYLOAD_BYTES: Final = 4 * 1024 * 1024
"""Larger payloads (declared or inflated) are not read: real records are a few kB."""

_STEALTH_FORMATS: Final = frozenset({"png", "webp"})


class StealthMetadataChecker(Checker):
    """Strong evidence: a generation record hidden in the alpha (or RGB) low bits."""

    @classmethod
    def get_name(cls) -> str:
        return "stealth_metadata"

    def check(self, picture: Picture) -> tuple[Evidence, ...]:
        if picture.media.format not in _STEALTH_FORMATS:
            return ()
        found = None
        alpha = alpha_plane(picture)
        if alpha is not None:
            found = read_stealth(alpha[..., None], "alpha")
        if found is None and alpha is None:
            found = read_stealth(picture.rgb(), "rgb")
        if found is None:
            return ()
        signature, payload = found
        where = f"the {'alpha channel' if signature.startswith('stealth_png') else 'RGB'}"
        hidden = f"hidden in {where}'s lowest bits ('{signature}', {len(payload):,} bytes)"
        finding = strongest(r(_as_metadata(payload)) for r in RECORDS)
        if finding is None:
            finding = Finding(
                Strength.MODERATE, "Stealth generation metadata that no reader parsed"
            )
        detail = finding.detail.replace(" in text field 'parameters'", "")
        detail = detail.replace("text field '", "hidden field '")
        return (
            Evidence(
                kind=EvidenceKind.GENERATOR_METADATA,
                strength=finding.strength,
                detail=f"{detail}, {hidden}",
            ),
        )


def read_stealth(samples: NDArray[np.uint8], plane: str) -> tuple[str, str] | None:
    """``(signature, payload text)`` hidden in ``samples`` (H x W x C), or None.

    ``plane`` is ``"alpha"`` (``samples`` holds the alpha channel only) or
    ``"rgb"`` (three channels). Only the columns the bits need are read.
    """
    height, width, channels = samples.shape
    head = _bits(samples, 0, _SIGNATURE_BITS + _LENGTH_BITS)
    if head is None:
        return None
    signature = np.packbits(head[:_SIGNATURE_BITS]).tobytes()
    kind = SIGNATURES.get(signature)
    if kind is None or kind[0] != plane:
        return None
    length = int("".join("1" if b else "0" for b in head[_SIGNATURE_BITS:]), 2)
    start = _SIGNATURE_BITS + _LENGTH_BITS
    if length <= 0 or length > MAX_PAYLOAD_BYTES * 8 or start + length > height * width * channels:
        return None
    bits = _bits(samples, start, length)
    if bits is None:
        return None
    payload = np.packbits(bits).tobytes()
    if kind[1]:
        inflated = _gunzip(payload)
        if inflated is None:
            return None
        payload = inflated
    return signature.decode("ascii"), payload.decode("utf-8", errors="replace")


def _bits(samples: NDArray[np.uint8], start: int, count: int) -> NDArray[np.uint8] | None:
    """Low bits ``start .. start+count`` in column-major order (x outer, y inner, channels)."""
    height, width, channels = samples.shape
    per_column = height * channels
    end = start + count
    if end > per_column * width:
        return None
    first, last = start // per_column, -(-end // per_column)
    columns = samples[:, first:last, :].transpose(1, 0, 2).reshape(-1) & 1
    offset = start - first * per_column
    out: NDArray[np.uint8] = columns[offset : offset + count].astype(np.uint8)
    return out


def _gunzip(data: bytes) -> bytes | None:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_PAYLOAD_BYTES + 1)
    except zlib.error:
        return None
    return out if len(out) <= MAX_PAYLOAD_BYTES else None


def _as_metadata(payload: str) -> Metadata:
    """The payload as the text metadata it replaces: NovelAI's JSON of PNG chunks, or
    A1111's ``parameters`` text."""
    text = payload.strip()
    if text.startswith("{"):
        try:
            chunks = json.loads(text)
        except (ValueError, RecursionError):
            chunks = None
        if isinstance(chunks, dict):
            return Metadata(
                text={str(k): v if isinstance(v, str) else json.dumps(v) for k, v in chunks.items()}
            )
    return Metadata(text={"parameters": payload})

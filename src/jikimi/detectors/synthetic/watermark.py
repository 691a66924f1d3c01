"""Stable Diffusion's invisible watermark (``invisible-watermark``'s dwtDct), decoded.

The reference Stable Diffusion scripts (CompVis v1 ``txt2img.py``) and the
SDXL pipelines (Stability's ``sgm`` and diffusers' ``StableDiffusionXLWatermarker``)
hide a fixed message in every image with the ``invisible-watermark`` package,
method ``dwtDct``. That package imports torch at load time, so this module
reimplements its decoder with numpy and OpenCV, bit-for-bit (the
tests check it against the package's own ``maxDct.py``):

::

    RGB ─► YUV (OpenCV, uint8) ─► U channel, cropped to a multiple of 4
        ─► one-level Haar DWT ─► LL band ─► 4x4 blocks in raster order
        ─► per block: the coefficient of largest magnitude except the first,
           vote 1 if |c| mod 36 > 18 else 0
        ─► bit k = mean of the votes of blocks k, k+L, k+2L, ... > 127/255

(``scales=[0, 36, 36]`` in the package means scale 36, but its loop only visits
channels 0 and 1, so only U carries the message.) The SDXL pipelines hand the
encoder float pixels, for which OpenCV centres U on 0.5 instead of 128, so SDXL
is also read in that float domain (:class:`Domain`, the same LL band shifted by
255); the package's decoder reads only the uint8 one.

A decoded message counts as evidence only when nearly every bit agrees with a
known one: each threshold has a chance below 1e-8 for random bits and lies 9 or
more bits above anything measured on 1,236 clean images (``docs/synthetic.md``).
The watermark does not survive resizing, cropping off the 8-pixel grid or
ordinary JPEG re-encoding, and anyone with the package can embed it, so it is
weak evidence. Decoding is skipped where it cannot find anything: above
``Settings.watermark_max_pixels`` (generators emit at most about 4 MP) and for
JPEGs quantised coarser than about quality 93 (:func:`could_survive`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Self

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from jikimi.config import Settings
from jikimi.detectors.synthetic.base import Checker
from jikimi.domain import Evidence, EvidenceKind, Strength
from jikimi.media.picture import RGB, Picture

SCALE: Final = 36
"""Quantisation step of the package's default ``scales=[0, 36, 36]``."""

BLOCK: Final = 4
"""Block side in the LL band (package default ``block=4``)."""

MIN_PIXELS: Final = 256 * 256
"""The package refuses images smaller than this; so do we."""


def _bits_of_bytes(data: bytes) -> tuple[int, ...]:
    return tuple(int(b) for b in np.unpackbits(np.frombuffer(data, dtype=np.uint8)))


def _bits_of_int(value: int, width: int) -> tuple[int, ...]:
    return tuple(int(ch) for ch in format(value, f"0{width}b"))


class Domain(StrEnum):
    """The pixel type the encoder ran on, which decides the chroma offset.

    OpenCV offsets U by 128 for ``uint8`` pixels and by 0.5 for ``float32``
    ones, so a message embedded on float pixels (diffusers' and Stability's
    SDXL pipelines hand the encoder floats in 0..255) is read correctly only
    in the float domain; the package's own decoder reads ``uint8`` images.
    """

    UINT8 = "uint8"
    FLOAT = "float"


@dataclass(frozen=True)
class Message:
    """A watermark a generator is known to embed, and how sure a match must be.

    ``min_agreeing``: how many decoded bits must equal ``bits`` to report it;
    ``domains``: the pixel domains its embedders are known to use.
    """

    name: str
    bits: tuple[int, ...]
    min_agreeing: int
    domains: tuple[Domain, ...]

    @property
    def length(self) -> int:
        return len(self.bits)


# Thresholds: the smallest agreement whose chance under fair-coin bits is below
# 1e-8 per decoding (binomial tail), which is also >= 9 bits above the largest
# agreement measured on clean photos (docs/synthetic.md, "Invisible watermark").
SD_V1: Final = Message(
    name="Stable Diffusion v1 ('StableDiffusionV1')",
    bits=_bits_of_bytes(b"StableDiffusionV1"),
    min_agreeing=101,
    domains=(Domain.UINT8,),
)
"""CompVis ``scripts/txt2img.py``: ``set_watermark('bytes', b'StableDiffusionV1')`` on uint8."""

SDXL: Final = Message(
    name="SDXL (Stability AI, diffusers)",
    bits=_bits_of_int(0b101100111110110010010000011110111011000110011110, 48),
    min_agreeing=43,
    domains=(Domain.UINT8, Domain.FLOAT),
)
"""``WATERMARK_MESSAGE`` of Stability's ``sgm`` and diffusers' ``StableDiffusionXLWatermarker``."""

KNOWN_MESSAGES: Final = (SD_V1, SDXL)


HAAR: Final = 0.7071067811865476
"""PyWavelets' Haar low-pass tap (``pywt.Wavelet("haar").dec_lo``)."""

FLOAT_OFFSET: Final = 255.0
"""LL(U) in the float domain is LL(U) in the uint8 domain minus this: OpenCV
centres U on 128 for uint8 pixels and on 0.5 for floats (127.5 per pixel, and
the Haar LL band sums four pixels times 1/2)."""


def haar_low(channel: NDArray[np.uint8]) -> NDArray[np.float64]:
    """The LL band of ``pywt.dwt2(channel, "haar")``, bit for bit, at a fraction of its cost.

    PyWavelets filters along rows, then columns, each output being ``c*a + c*b``
    in float64, rounded step by step; the same operations in the same order give
    the same bits. ``pywt.dwt2`` also computes the three detail bands the
    decoder never reads, and took ~0.3 s per 4 MP image.
    """
    products: NDArray[np.float64] = np.multiply(channel, HAAR, dtype=np.float64)
    rows: NDArray[np.float64] = products[0::2] + products[1::2]
    np.multiply(rows, HAAR, out=rows)
    return rows[:, 0::2] + rows[:, 1::2]


def chroma_low(rgb: RGB) -> NDArray[np.float64]:
    """The LL band of the U channel (uint8 YUV), cropped to a multiple of 4 as the package does."""
    rows, cols = rgb.shape[0] // 4 * 4, rgb.shape[1] // 4 * 4
    # RGB2YUV on RGB equals the package's BGR2YUV on BGR, without a swapped copy.
    crop = np.ascontiguousarray(rgb[:rows, :cols])
    yuv = np.asarray(cv2.cvtColor(crop, cv2.COLOR_RGB2YUV), dtype=np.uint8)
    return haar_low(yuv[:, :, 1])


def votes(low: NDArray[np.float64], domain: Domain = Domain.UINT8) -> NDArray[np.bool_]:
    """One vote per 4x4 block of the LL band, in the package's raster order.

    In the float domain the LL band is shifted by :data:`FLOAT_OFFSET`; the
    uint8 rounding of U leaves it within one unit of what the encoder saw, far
    inside the quantisation margin of 9.
    """
    if domain is Domain.FLOAT:
        low = low - FLOAT_OFFSET
    nbr, nbc = low.shape[0] // BLOCK, low.shape[1] // BLOCK
    blocks = (
        low[: nbr * BLOCK, : nbc * BLOCK]
        .reshape(nbr, BLOCK, nbc, BLOCK)
        .transpose(0, 2, 1, 3)
        .reshape(nbr * nbc, BLOCK * BLOCK)
    )
    # The package skips the first coefficient of each block, then takes the
    # largest magnitude (first one on ties, as np.argmax does).
    pos = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    values = np.abs(blocks[np.arange(blocks.shape[0]), pos])
    return np.asarray((values % SCALE) > 0.5 * SCALE, dtype=np.bool_)


def block_votes(rgb: RGB, domain: Domain = Domain.UINT8) -> NDArray[np.bool_]:
    """:func:`votes` of an image: what the package's decoder computes per block."""
    return votes(chroma_low(rgb), domain)


def decode_bits(votes: NDArray[np.bool_], length: int) -> NDArray[np.bool_]:
    """The ``length``-bit message the votes spell, as the package decides it.

    Bit ``k`` collects the votes of blocks ``k, k+length, ...``; it is 1 when
    their mean, times 255, exceeds 127 (the package's exact float test).
    """
    if votes.size < length:
        raise ValueError(f"{votes.size} blocks cannot carry a {length}-bit message")
    slot = np.arange(votes.size) % length
    ones = np.bincount(slot, weights=votes.astype(np.float64), minlength=length)
    counts = np.bincount(slot, minlength=length)
    return np.asarray((ones / counts) * 255 > 127, dtype=np.bool_)


def agreeing_bits(decoded: NDArray[np.bool_], message: Message) -> int:
    """How many decoded bits equal the message's."""
    return int(np.count_nonzero(decoded == np.asarray(message.bits, dtype=np.bool_)))


@dataclass(frozen=True)
class Found:
    """A known message decoded from an image, with its bit agreement."""

    message: Message
    domain: Domain
    agreeing: int


def find_watermarks(rgb: RGB, messages: tuple[Message, ...] = KNOWN_MESSAGES) -> tuple[Found, ...]:
    """Known messages present in ``rgb`` (empty for images below 256x256 pixels).

    Each message is reported at most once, in the domain that agrees best.
    """
    if rgb.shape[0] * rgb.shape[1] < MIN_PIXELS:
        return ()
    low = chroma_low(rgb)
    by_domain: dict[Domain, NDArray[np.bool_]] = {}
    found = []
    for message in messages:
        best: Found | None = None
        for domain in message.domains:
            if domain not in by_domain:
                by_domain[domain] = votes(low, domain)
            agreeing = agreeing_bits(decode_bits(by_domain[domain], message.length), message)
            if agreeing >= message.min_agreeing and (best is None or agreeing > best.agreeing):
                best = Found(message, domain, agreeing)
        if best is not None:
            found.append(best)
    return tuple(found)


MAX_CHROMA_QUANT: Final = 12.0
"""A JPEG whose mean chrominance quantiser is above this (about IJG quality 93)
is not decoded: the message lives in chroma, and none survived quality 90 in
our measurements (``docs/synthetic.md``), so decoding would cost time for nothing."""


def could_survive(picture: Picture) -> bool:
    """False for JPEGs too coarsely quantised (or without chroma) to keep a watermark.

    Reads only the header's quantisation tables. Any other format, or a header
    Pillow cannot read, is decoded (the pixels decide).
    """
    if picture.mime != "image/jpeg":
        return True
    try:
        with Image.open(io.BytesIO(picture.data)) as im:
            tables = dict(getattr(im, "quantization", None) or {})
    except (OSError, ValueError, SyntaxError):
        return True
    chroma = tables.get(1)
    if chroma is None:  # greyscale: U is flat, there is nothing to decode
        return not tables
    return float(np.mean(chroma)) <= MAX_CHROMA_QUANT


class WatermarkChecker(Checker):
    """Weak evidence: a Stable Diffusion dwtDct watermark in the pixels."""

    def __init__(self, max_pixels: int) -> None:
        self.max_pixels = max_pixels

    @classmethod
    def get_name(cls) -> str:
        return "watermark"

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(max_pixels=settings.watermark_max_pixels)

    def check(self, picture: Picture) -> tuple[Evidence, ...]:
        pixels = picture.media.width * picture.media.height
        if not MIN_PIXELS <= pixels <= self.max_pixels or not could_survive(picture):
            return ()
        return tuple(
            Evidence(
                kind=EvidenceKind.WATERMARK,
                strength=Strength.WEAK,
                detail=(
                    f"Invisible watermark of {f.message.name} decoded "
                    f"({f.agreeing}/{f.message.length} bits agree, "
                    f"invisible-watermark dwtDct, {f.domain} domain)"
                ),
            )
            for f in find_watermarks(picture.rgb())
        )

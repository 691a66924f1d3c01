"""Variant PDQ hashes: a picture as it is re-shared, and a banked picture as it gets cut.

A global perceptual hash sees a re-shared copy's frame, tilt or crop as part of
the picture: letterbox bars, a caption bar or a screenshot's chrome move PDQ 60
to 120 bits, 2 degrees of tilt 50 bits, a 5 % crop 80. Two sides make up for it:

Query side (:func:`query_variants`, the upload): the picture cut out of its
frame (:mod:`jikimi.media.trim`: ``trimmed``, ``framed``) and a tilted picture
turned back (:mod:`jikimi.media.deskew`: ``deskewed``). Each is found only when
the upload has one (a flat edge line, four corners of one colour), so a plain
photo costs a few line tests and no hash.

Bank side (:func:`bank_variants`, kept with each entry): the banked picture's
centre with 6 and 12 % of each side cut off (``crop6``, ``crop12``: a copy
cropped by 2-15 % lands within PDQ's reach of one of them) and, when its own
edges are flat, the picture trimmed (``bank_trimmed``: a photo with a dark floor
loses it on the query side too). At most three, which bounds a bank's memory
at four hashes per entry.

Every variant is a full PDQ hash compared at the bank's threshold. A variant
whose PDQ quality is under :data:`~jikimi.signals.pdq.LOW_QUALITY` is not kept:
flat pictures (what is left of a mostly empty frame) hash alike and would match
each other.

Stored form (:func:`format_variants`): ``via:hex`` pairs separated by spaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pdqhash

from jikimi.domain import Variant
from jikimi.errors import InvalidHash
from jikimi.media.deskew import find_tilt, upright
from jikimi.media.picture import RGB, Picture
from jikimi.media.trim import content_boxes
from jikimi.signals.pdq import DECODE_MIN_SIDE, LOW_QUALITY, PdqSignal, reference_resize

SAME_BITS: Final = 16
"""A variant this close to an earlier one (the same box found by both tests) is not kept."""

BANK_CROPS: Final = ((Variant.CROP6, 0.06), (Variant.CROP12, 0.12))
"""The banked picture's centre crops: share of the width and height cut off (half each side)."""

QUERY_VARIANTS: Final = frozenset({Variant.TRIMMED, Variant.FRAMED, Variant.DESKEWED})
BANK_VARIANTS: Final = (Variant.CROP6, Variant.CROP12, Variant.BANK_TRIMMED)
"""Bank-side variants in a fixed order: an entry's variant ``k`` has index id
``seq * VARIANT_SLOTS + k`` (see ``matching.bank_index``)."""


@dataclass(frozen=True)
class VariantHash:
    """One variant's PDQ hash; ``flips`` are its 8 dihedral hashes (query side, on demand)."""

    via: Variant
    value: str
    quality: int
    flips: tuple[str, ...] = ()


def query_variants(picture: Picture, *, dihedral: bool = False) -> tuple[VariantHash, ...]:
    """The upload's variants (usually none): its content boxes and its deskewed self.

    ``dihedral``: also the 8 rotations and mirror images of each (a mirrored copy
    inside a screenshot), for about the cost of one more hash each.
    """
    rgb = picture.rgb(min_side=DECODE_MIN_SIDE)
    regions: list[tuple[Variant, RGB]] = [
        (Variant(frame.value), box.of(rgb)) for frame, box in content_boxes(rgb).items()
    ]
    tilt = find_tilt(rgb)
    if tilt is not None:
        regions.append((Variant.DESKEWED, upright(rgb, tilt)))
    return _hashed(regions, dihedral)


def bank_variants(picture: Picture) -> tuple[VariantHash, ...]:
    """The banked picture's variants (crops, and its trimmed self when it has borders)."""
    rgb = picture.rgb(min_side=DECODE_MIN_SIDE)
    height, width = rgb.shape[:2]
    regions: list[tuple[Variant, RGB]] = []
    for via, share in BANK_CROPS:
        dy, dx = round(height * share / 2), round(width * share / 2)
        regions.append((via, rgb[dy : height - dy, dx : width - dx]))
    boxes = content_boxes(rgb)
    if boxes:
        box = next(iter(boxes.values()))  # the stricter test's box when both found one
        regions.append((Variant.BANK_TRIMMED, box.of(rgb)))
    return _hashed(regions, dihedral=False)


def _hashed(regions: Sequence[tuple[Variant, RGB]], dihedral: bool) -> tuple[VariantHash, ...]:
    out: list[VariantHash] = []
    for via, region in regions:
        pixels = np.ascontiguousarray(reference_resize(np.ascontiguousarray(region)))
        if dihedral:
            vectors, quality = pdqhash.compute_dihedral(pixels)
            hexes = tuple(_to_hex(v) for v in vectors)
        else:
            bits, quality = pdqhash.compute(pixels)
            hexes = (_to_hex(bits),)
        if quality < LOW_QUALITY or any(
            PdqSignal.distance(hexes[0], kept.value) <= SAME_BITS for kept in out
        ):
            continue
        out.append(VariantHash(via, hexes[0], int(quality), hexes if dihedral else ()))
    return tuple(out)


def format_variants(variants: Sequence[VariantHash]) -> str:
    """The stored form of bank-side variants (empty for none)."""
    return " ".join(f"{v.via.value}:{v.value}" for v in variants)


def parse_variants(text: str) -> list[tuple[Variant, str]]:
    """``(via, hex)`` pairs of a stored form; :class:`InvalidHash` if malformed."""
    out: list[tuple[Variant, str]] = []
    for item in text.split():
        via, _, value = item.partition(":")
        try:
            out.append((Variant(via), PdqSignal.validate(value)))
        except ValueError:
            raise InvalidHash(f"not a variant hash: {item[:80]!r}") from None
    return out


def _to_hex(bits: object) -> str:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()

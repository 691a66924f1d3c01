"""Variant PDQ hashes of a picture: its hash with the frame around it cut off.

A re-shared copy of a banked image often arrives framed (letterbox bars, a
caption bar, a screenshot's chrome: see :mod:`jikimi.media.trim`), and the
banked image itself may have been framed when it was reported. Matching the
plain hash of each side against the plain hash of the other misses both. So a
bank with ``variants`` on keeps, beside each entry's hash, the hashes of its
picture's content boxes (bank side), and a scan looks those banks up with the
hashes of the upload's content boxes as well (query side):

==================  =====================  ==========================
query \\ bank        entry hash             entry variants
==================  =====================  ==========================
plain hash          PDQ, exact (as today)  the entry framed, query bare
query variants      query framed, entry    both framed differently
                    bare
==================  =====================  ==========================

A match is reported with ``via`` naming the variant that made it (the query's
if both were variants). Every variant is a full PDQ hash compared at the
bank's threshold, so a variant match is as strict as a plain one; what grows is
the number of comparisons. A variant whose PDQ quality is below
:data:`~jikimi.signals.pdq.LOW_QUALITY` is not kept: flat pictures (what is
left of a mostly empty frame) hash alike, and would match each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pdqhash

from jikimi.media.picture import Picture
from jikimi.media.trim import Frame, content_boxes
from jikimi.signals.pdq import DECODE_MIN_SIDE, LOW_QUALITY, reference_resize

SAME_BITS: Final = 16
"""A variant this close to an earlier one (the same box found by both tests) is not kept:
it would match what the earlier one matches."""


@dataclass(frozen=True)
class VariantHash:
    """One variant's PDQ hash; ``flips`` are its 8 dihedral hashes (query side, on demand)."""

    via: Frame
    value: str
    quality: int
    flips: tuple[str, ...] = ()


def variant_hashes(picture: Picture, *, dihedral: bool = False) -> tuple[VariantHash, ...]:
    """The hashes of ``picture``'s content boxes (usually none), best quality first.

    ``dihedral``: also the 8 rotations and mirror images of each (a mirrored
    copy inside a screenshot), for about the cost of one more hash each.
    """
    rgb = picture.rgb(min_side=DECODE_MIN_SIDE)
    out: list[VariantHash] = []
    seen: list[str] = []
    for frame, box in content_boxes(rgb).items():
        pixels = np.ascontiguousarray(reference_resize(np.ascontiguousarray(box.of(rgb))))
        if dihedral:
            vectors, quality = pdqhash.compute_dihedral(pixels)
            hexes = tuple(_to_hex(v) for v in vectors)
        else:
            bits, quality = pdqhash.compute(pixels)
            hexes = (_to_hex(bits),)
        if quality < LOW_QUALITY or any(_bits(hexes[0], h) <= SAME_BITS for h in seen):
            continue
        seen.append(hexes[0])
        out.append(VariantHash(frame, hexes[0], int(quality), hexes if dihedral else ()))
    return tuple(out)


def _bits(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _to_hex(bits: object) -> str:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()

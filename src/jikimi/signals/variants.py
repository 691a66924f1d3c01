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
from typing import TYPE_CHECKING, Final

import numpy as np
import pdqhash

from jikimi.domain import FrameHash, SignalKind, Variant
from jikimi.errors import InvalidHash
from jikimi.media.deskew import find_tilt, upright
from jikimi.media.picture import RGB, Picture
from jikimi.media.trim import Box, content_boxes
from jikimi.signals.pdq import DECODE_MIN_SIDE, LOW_QUALITY, PdqSignal, reference_resize
from jikimi.signals.vpdq import format_vpdq, frame_pdq, luma_pdq

if TYPE_CHECKING:  # not imported at run time: importing signals must not load FFmpeg
    from jikimi.media.video import VideoFrame

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
    """One variant's hash; ``flips`` are its 8 dihedral hashes (query side, on demand).

    ``kind``: PDQ for a picture's variants; vPDQ for a video's frames trimmed of their
    bars (``value`` is then a vPDQ text, see ``pipeline.video``)."""

    via: Variant
    value: str
    quality: int
    flips: tuple[str, ...] = ()
    kind: SignalKind = SignalKind.PDQ


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


LOOK_FRAMES: Final = 8
"""A video's bars are looked for in its first hashed frames, at most this many."""


class TrimmedFrames:
    """A video's vPDQ frames cut to the picture inside its bars (the query side).

    Letterboxed and pillarboxed re-encodes, and screen recordings of a video
    playing in an app, keep the same bars on every frame. The box is found once,
    on the first of the hashed frames that has one (at most :data:`LOOK_FRAMES`
    looked at: a black opening frame has none), with the still image's test
    (:func:`~jikimi.media.trim.content_boxes`); every hashed frame from then on is
    hashed again inside it, from the same luma plane as its own hash. A video with
    no bars costs a few line tests on a few frames.
    """

    def __init__(self) -> None:
        self._box: Box | None = None
        self._via: Variant | None = None
        self._looked = 0
        self.frames: list[FrameHash] = []

    def add(self, frame: VideoFrame) -> None:
        """Hash ``frame`` inside the bars, once they are known (call for each hashed frame)."""
        if self._box is None:
            if self._looked >= LOOK_FRAMES:
                return
            self._looked += 1
            boxes = content_boxes(frame.rgb)
            if not boxes:
                return
            frame_kind, self._box = next(iter(boxes.items()))
            self._via = Variant(frame_kind.value)
        box = self._box
        if frame.luma is not None:
            luma = np.ascontiguousarray(box.of_plane(frame.luma.pixels))
            pdq, quality = luma_pdq(luma, full_range=frame.luma.full_range)
        else:
            pdq, quality = frame_pdq(np.ascontiguousarray(box.of(frame.rgb)))
        self.frames.append(FrameHash(frame=frame.number, t_s=frame.t_s, quality=quality, pdq=pdq))

    def variant(self) -> VariantHash | None:
        """The trimmed frames as one vPDQ variant, or ``None`` (no bars found)."""
        if self._via is None or not self.frames:
            return None
        quality = min(f.quality for f in self.frames)
        return VariantHash(self._via, format_vpdq(self.frames), quality, kind=SignalKind.VPDQ)

"""What a file is and how it is hashed: the one decision scans, bank entries and the API share.

::

    sniff ─► a video container (MP4, WebM, ...) ─────────────► video route
          └► anything else ─► media.load ─► an animated GIF/WebP ─► video route
                                         └► a still image ──────► still route

    still route: PDQ (of the decoded picture), MD5 and SHA-256 (of the file's bytes);
                 variants of the picture for banks with ``variants`` on: an upload's
                 (trimmed, framed, deskewed; :func:`still_variants`, on demand) and a
                 bank entry's (centre crops, trimmed; :func:`entry_variants`)
    video route: vPDQ (frame hashes), MD5 and SHA-256 (of the file's bytes)

A scan computes every signal of its route (:data:`SCAN_SIGNALS`); a bank entry
made from media holds the route's perceptual one (:data:`ENTRY_SIGNAL`: PDQ for
a still, vPDQ for a video), and ``POST /v1/scan`` asks the same question to choose
between scanning within the request and queueing a job (:func:`route_of`, which
decodes only a GIF or WebP, the formats whose route depends on the frame count).

The video route's frame hashes are computed where the frames are decoded: by the
pipeline's video scanner (which grades the same frames in the same pass) and, for
a bank entry, by :func:`video_hash`; both hash each frame with
:func:`jikimi.signals.vpdq.hash_frame`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from jikimi.domain import MediaKind, Signal, SignalKind
from jikimi.media import MediaLimits, Picture, Sniffed, load, sniff
from jikimi.pipeline.video import ANIMATIONS, is_animation
from jikimi.signals import Md5Signal, PdqSignal, Sha256Signal

if TYPE_CHECKING:
    from jikimi.media.video import VideoLimits
    from jikimi.signals.variants import VariantHash
    from jikimi.signals.vpdq import VideoHash


class Route(StrEnum):
    """Which path a file takes through the pipeline."""

    STILL = "still"
    VIDEO = "video"


SCAN_SIGNALS: Final[Mapping[Route, tuple[SignalKind, ...]]] = {
    Route.STILL: (SignalKind.PDQ, SignalKind.MD5, SignalKind.SHA256),
    Route.VIDEO: (SignalKind.MD5, SignalKind.SHA256, SignalKind.VPDQ),
}
"""The signals a scan reports for each route, in the Verdict's order."""

ENTRY_SIGNAL: Final[Mapping[Route, SignalKind]] = {
    Route.STILL: SignalKind.PDQ,
    Route.VIDEO: SignalKind.VPDQ,
}
"""The signal a bank entry made from media holds (the route's perceptual hash)."""


@dataclass(frozen=True, slots=True)
class Classified:
    """A file's route, and its decoded picture when it has one: a still image, or an
    animated GIF/WebP's first frame (which carries the file's metadata). A video
    container is not decoded here (``picture`` is ``None``)."""

    route: Route
    picture: Picture | None


def route_of(sniffed: Sniffed) -> Route | None:
    """The route known from the sniffed format alone, or ``None`` when only decoding
    tells (a GIF or WebP: a video if it has more than one frame)."""
    if sniffed.kind is MediaKind.VIDEO:
        return Route.VIDEO
    if sniffed.format in ANIMATIONS:
        return None
    return Route.STILL


def classify(data: bytes, limits: MediaLimits, sniffed: Sniffed | None = None) -> Classified:
    """Sniff and, unless it is a video container, decode ``data`` (raises the media
    errors of :func:`jikimi.media.load` for what is not a readable image)."""
    sniffed = sniffed or sniff(data)
    if sniffed.kind is MediaKind.VIDEO:
        return Classified(Route.VIDEO, None)
    picture = load(data, limits)
    return Classified(Route.VIDEO if is_animation(picture) else Route.STILL, picture)


_STILL: Final[Mapping[SignalKind, Callable[[Picture, bytes], Signal]]] = {
    SignalKind.PDQ: lambda picture, data: PdqSignal.hash_picture(picture),
    SignalKind.MD5: lambda picture, data: Md5Signal.hash_bytes(data),
    # load() already hashed the bytes for Media.sha256
    SignalKind.SHA256: lambda picture, data: Signal(
        type=SignalKind.SHA256, value=picture.media.sha256
    ),
}


def still_signals(
    picture: Picture, data: bytes, kinds: Sequence[SignalKind] = SCAN_SIGNALS[Route.STILL]
) -> tuple[Signal, ...]:
    """The still route's signals of one image (``data``: the file it was loaded from)."""
    return tuple(_STILL[kind](picture, data) for kind in kinds)


def still_variants(picture: Picture) -> tuple[VariantHash, ...]:
    """An upload's query-side variants with their flips (usually none: a plain photo
    costs a few line tests)."""
    from jikimi.signals.variants import query_variants

    return query_variants(picture, dihedral=True)


def entry_variants(picture: Picture) -> tuple[VariantHash, ...]:
    """A banked picture's variants, kept with its entry."""
    from jikimi.signals.variants import bank_variants

    return bank_variants(picture)


def byte_signals(data: bytes) -> tuple[Signal, Signal]:
    """MD5 and SHA-256 of a file's bytes, in the Verdict's order: what every route
    reports of a file, and all that identifies one that is not an image (a page, a
    video nobody decoded)."""
    return Md5Signal.hash_bytes(data), Sha256Signal.hash_bytes(data)


def video_hash(data: bytes, limits: VideoLimits) -> VideoHash:
    """The video route's hashes of one file, decoded for hashing alone (a bank entry).

    PyAV is imported here, not with this module: most processes that classify files
    never decode a video.
    """
    from jikimi.media.video import load_video
    from jikimi.signals.vpdq import hash_video

    return hash_video(load_video(data, limits))

"""How a bank entry is made from media or a vPDQ hash file: its signal, value and frames."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from jikimi.config import Settings
from jikimi.domain import (
    SignalKind,
)
from jikimi.errors import (
    InvalidHash,
    InvalidInput,
    UnsupportedMedia,
)

if TYPE_CHECKING:
    from jikimi.media import MediaLimits
    from jikimi.signals.vpdq import FrameHash


MAX_VIDEO_FRAMES = 200_000
"""Most frame hashes in one vPDQ entry: 55 hours at vPDQ's one a second, or nearly two
hours of a hash file that lists every frame of a 30 fps video (as the reference can)."""


class Hashed(NamedTuple):
    """What an entry is made of: its signal and value, the media it came from, and for
    a video its frame hashes (stored beside the entry)."""

    signal: SignalKind
    value: str
    media_sha256: str | None
    frames: Sequence[FrameHash]
    variants: str = ""
    """A still's bank-side variant hashes (``signals.variants.format_variants``), when asked."""


def hash_media(data: bytes, settings: Settings | None, *, variants: bool = False) -> Hashed:
    """The entry an uploaded image (PDQ) or video (vPDQ; an animated GIF or WebP too)
    makes: the route and signal :mod:`jikimi.pipeline.hashing` decides, as for a scan.

    ``variants``: also a still's bank-side variants (for banks with ``variants`` on)."""
    # Imported here: decoding pulls in Pillow/pdqhash (and PyAV), which only this path needs.
    from jikimi.media import sniff
    from jikimi.media.sniff import FileFormat
    from jikimi.pipeline.hashing import (
        ENTRY_SIGNAL,
        Route,
        classify,
        entry_variants,
        still_signals,
    )
    from jikimi.signals.variants import format_variants

    sniffed = sniff(data)
    if sniffed.format is FileFormat.TEXT:
        raise UnsupportedMedia(
            "This is a text file, not an image or a video; "
            "a vPDQ hash file is added as a vpdq hash, not as media."
        )
    found = classify(data, media_limits(settings), sniffed)
    if found.route is Route.VIDEO:
        return hash_video(data, settings)
    assert found.picture is not None  # the still route always decodes
    (signal,) = still_signals(found.picture, data, (ENTRY_SIGNAL[Route.STILL],))
    kept = format_variants(entry_variants(found.picture)) if variants else ""
    return Hashed(signal.type, signal.value, found.picture.media.sha256, (), kept)


def hash_video(data: bytes, settings: Settings | None) -> Hashed:
    """The entry a video (or an animated GIF/WebP) makes: its vPDQ frames."""
    from jikimi.media.video import VideoLimits
    from jikimi.pipeline.hashing import video_hash

    limits = VideoLimits.from_settings(settings) if settings else VideoLimits()
    hashed = video_hash(data, limits)
    video = video_entry(hashed.frames)
    return video._replace(media_sha256=hashed.sha256)


def media_limits(settings: Settings | None) -> MediaLimits:
    from jikimi.media import MediaLimits

    if settings is not None:
        return MediaLimits.from_settings(settings)
    fields = Settings.model_fields  # the documented defaults, without reading the environment
    return MediaLimits(
        max_bytes=fields["max_bytes"].default,
        max_pixels=fields["max_pixels"].default,
        max_dimension=fields["max_dimension"].default,
    )


def parse_vpdq_file(text: str) -> list[FrameHash]:
    """The frames of a vPDQ hash file (lines or ThreatExchange's JSON form);
    :class:`InvalidHash` names a bad line or element."""
    from jikimi.signals.vpdq import VpdqSignal, parse_vpdq

    return parse_vpdq(VpdqSignal.validate(text))


def video_entry(frames: Sequence[FrameHash]) -> Hashed:
    """A vPDQ entry: its frames in frame order, timestamps to the millisecond (as its
    text says), and its value, :func:`~jikimi.signals.vpdq.video_identity`.

    Refused: a frame number listed twice (the frames' key), more than
    :data:`MAX_VIDEO_FRAMES` frames, and videos with no frame of PDQ quality 50 or
    more: vPDQ ignores those frames, so such an entry could never match.
    """
    from jikimi.matching.vpdq_index import VPDQ_QUALITY_MIN
    from jikimi.signals.vpdq import format_vpdq, parse_vpdq, video_identity

    if len(frames) > MAX_VIDEO_FRAMES:
        raise InvalidInput(
            f"the video has {len(frames):,} frame hashes; a bank entry holds at most "
            f"{MAX_VIDEO_FRAMES:,}"
        )
    ordered = sorted(frames, key=lambda f: f.frame)
    for before, after in itertools.pairwise(ordered):
        if before.frame == after.frame:
            raise InvalidHash(f"not a valid vpdq hash file: frame {after.frame} is listed twice")
    if not any(f.quality >= VPDQ_QUALITY_MIN for f in ordered):
        raise InvalidInput(
            f"none of the video's {len(ordered)} frame hashes has a PDQ quality of "
            f"{VPDQ_QUALITY_MIN} or more (nearly flat pictures); vPDQ ignores such frames, "
            "so this video could never match"
        )
    frames = parse_vpdq(format_vpdq(ordered))  # timestamps to the millisecond, as stored
    return Hashed(SignalKind.VPDQ, video_identity(frames), None, frames)

"""The vPDQ index: which banked videos a video matches, by the share of frames that match.

A vPDQ hash is one PDQ hash per sampled frame (see :mod:`jikimi.signals.vpdq`), so
a video has no single hash to look up. Meta's rule, which this index follows,
compares *sets of frames*: a banked video matches a query video when

* ``query_share``: at least a share of the query's frames are within the PDQ
  threshold of *some* frame of the banked video (default 80 %), and
* ``index_share``: at least a share of the banked video's frames are within the
  threshold of some query frame (default 0 %).

With 80 / 0 a clip of a banked video matches it (every frame of the clip is in
the banked video, while only a part of the banked video is in the clip); raising
the second share asks for more of the banked video to be present. The shares are
the caller's (per bank); :meth:`VpdqIndex.query` returns both for every banked
video that shares at least one frame, and the caller keeps those above its shares.

Shape of the structure::

    add(entry, frames) ─► keep frames of quality >= quality_min, drop repeated hashes
                       ─► frame ids [first, first + n) (consecutive per video, never reused)
                       ─► PdqIndex: frame id -> hash (exact multi-index, see pdq_index)
                       ─► owner[frame id] = entry  (one int64 array, not an object per frame)

    query(frames, t) ─► the query's usable hashes ─► PdqIndex.query_many(hashes, t)
                     ─► (query hash, frame id, distance) pairs ─► owner[frame id]
                     ─► per entry: distinct query hashes hit / usable query hashes,
                        distinct frames hit / the entry's usable frames, smallest distance

It is exact to ``threshold`` like the image index: every frame within the threshold
is found (the multi-index's pigeonhole guarantee), so the shares are the same as a
brute-force comparison of every frame pair, at a cost that grows with the number of
frames near the query's rather than with the size of the bank.

Reference semantics (python-threatexchange, ``extensions/vpdq``): the brute-force
``match_VPDQ_hash_brute`` and the FAISS ``VPDQIndex`` both drop frames of quality
below 50 (``VPDQ_QUALITY_THRESHOLD``), drop repeated hashes (``dedupe``), count a
frame as matched when some frame of the other video is within 31 bits (``distance
<= tolerance``; the FAISS search asks for ``< tolerance + 1``), and divide by the
filtered, de-duplicated counts; ``VPDQ_QUERY_MATCH_THRESHOLD_PERCENT = 80`` and
``VPDQ_INDEX_MATCH_THRESHOLD_PERCENT = 0``. This index computes the same two numbers. Differences:

* shares are fractions (0..1), not percentages; the share limits are the caller's
  (per bank) rather than the index's;
* the quality filter runs before de-duplication (as the reference's index does;
  its brute-force matcher de-duplicates first, which differs only when the same
  hash appears with different qualities), and hashes are compared case-insensitively;
* the reference index keeps one copy of a hash shared by several banked videos; this
  one keeps a copy per video (same answers; simpler removal);
* the reference index only adds videos; this one also removes and replaces them;
* the threshold is per query (at most ``max_threshold``), not fixed at 31;
* ``distance`` (the smallest frame distance seen) is reported; the reference
  reports ``max(query %, index %)`` in its place.

Memory: the PDQ index's ~95 bytes per indexed frame (see :mod:`jikimi.matching.pdq_index`)
plus 8 bytes of ``owner`` per frame id ever handed out (ids are not reused, so a
long run of replacements grows ``owner`` until the index is rebuilt), plus one dict
item per video.

Concurrency: as :class:`~jikimi.matching.PdqIndex`: queries may run at once,
a change needs the index to itself.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from jikimi.errors import InvalidInput
from jikimi.matching.pdq_index import (
    DEFAULT_MAX_THRESHOLD,
    PDQ_BYTES,
    PdqIndex,
    parse_pdq_hex,
)
from jikimi.signals.vpdq import FrameHash

VPDQ_QUALITY_MIN: Final = 50
"""Frames below this PDQ quality are ignored on both sides (the reference's threshold)."""

_NO_FRAMES = np.empty((0, PDQ_BYTES), dtype=np.uint8)


class VideoHit(NamedTuple):
    """A banked video sharing frames with the query."""

    entry_id: int
    """The banked video's entry id (the caller's int64, e.g. the entry's seq)."""
    query_share: float
    """Share (0..1) of the query's usable frames within the threshold of some frame of the
    banked video."""
    index_share: float
    """Share (0..1) of the banked video's usable frames within the threshold of some query
    frame."""
    distance: int
    """The smallest distance (bits) between a query frame and a frame of the banked video."""


class _Video(NamedTuple):
    """Where a banked video's frames sit: frame ids ``[first, first + size)``."""

    first: int
    size: int


class VpdqIndex:
    """Banked videos by their frames; a query reports the frame shares of each candidate."""

    def __init__(
        self, max_threshold: int = DEFAULT_MAX_THRESHOLD, quality_min: int = VPDQ_QUALITY_MIN
    ) -> None:
        if isinstance(quality_min, bool) or not isinstance(quality_min, int):
            raise InvalidInput(f"quality_min must be an integer from 0 to 100, not {quality_min!r}")
        if not 0 <= quality_min <= 100:
            raise InvalidInput(f"quality_min must be an integer from 0 to 100, not {quality_min}")
        self._frames = PdqIndex(max_threshold)  # checks max_threshold
        self._quality_min = quality_min
        self._owner: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        """Entry id of each frame id (-1 once its video is removed or replaced)."""
        self._next_frame = 0
        self._videos: dict[int, _Video] = {}

    @property
    def max_threshold(self) -> int:
        return self._frames.max_threshold

    @property
    def quality_min(self) -> int:
        return self._quality_min

    @property
    def frame_count(self) -> int:
        """Frames indexed: the usable frames of every video, a hash repeated in one video once."""
        return len(self._frames)

    def __len__(self) -> int:
        """Videos held, including those with no usable frame (which never match)."""
        return len(self._videos)

    def __contains__(self, entry_id: object) -> bool:
        try:
            return operator.index(entry_id) in self._videos  # type: ignore[arg-type]
        except TypeError:
            return False

    # --- changes ---------------------------------------------------------------

    def add(self, entry_id: int, frames: Sequence[FrameHash]) -> None:
        """Index a video's frames under ``entry_id``, replacing the frames it had."""
        self.add_many([(entry_id, frames)])

    def add_many(self, videos: Iterable[tuple[int, Sequence[FrameHash]]]) -> None:
        """Index many videos in one pass (the way to build); a repeated id keeps its last.

        Each video's hashes are parsed as it comes (32 bytes a frame, not a string), and
        the PDQ index receives them all at once with ascending frame ids: one build, not
        one fold per video. Nothing changes if a hash is invalid (:class:`InvalidHash`).
        """
        pending: dict[int, NDArray[np.uint8]] = {}
        for entry_id, frames in videos:
            key = _entry_id(entry_id)
            pending.pop(key, None)  # re-insert: a repeated id takes its last place
            pending[key] = self._usable(frames)
        if not pending:
            return
        for key in pending:
            self._forget(key)
        total = sum(len(raw) for raw in pending.values())
        first = self._next_frame
        self._reserve(first + total)
        for key, raw in pending.items():
            self._videos[key] = _Video(self._next_frame, len(raw))
            self._owner[self._next_frame : self._next_frame + len(raw)] = key
            self._next_frame += len(raw)
        if total:
            ids = np.arange(first, first + total, dtype=np.int64)
            self._frames.add_many(ids, np.concatenate(list(pending.values())))

    def remove(self, entry_id: int) -> bool:
        """Forget a video; False if it was not indexed (removing twice is harmless)."""
        try:
            key = _entry_id(entry_id)
        except InvalidInput:
            return False
        return self._forget(key)

    def _forget(self, key: int) -> bool:
        video = self._videos.pop(key, None)
        if video is None:
            return False
        if video.size:
            end = video.first + video.size
            self._frames.remove_many(np.arange(video.first, end, dtype=np.int64))
            self._owner[video.first : end] = -1
        return True

    def _reserve(self, size: int) -> None:
        if size > len(self._owner):
            grown = np.full(max(size, 2 * len(self._owner), 1024), -1, dtype=np.int64)
            grown[: self._next_frame] = self._owner[: self._next_frame]
            self._owner = grown

    def _usable(self, frames: Sequence[FrameHash]) -> NDArray[np.uint8]:
        """The distinct hashes of frames of quality >= quality_min, as (n, 32) bytes.

        :class:`~jikimi.errors.InvalidHash` if one is not 64 hex digits.
        """
        minimum = self._quality_min
        hashes = list(dict.fromkeys(f.pdq.lower() for f in frames if f.quality >= minimum))
        return parse_pdq_hex(hashes) if hashes else _NO_FRAMES

    # --- queries ---------------------------------------------------------------

    def query(self, frames: Sequence[FrameHash], threshold: int) -> list[VideoHit]:
        """Every banked video with at least one frame within ``threshold`` bits of a usable
        query frame (``query_share > 0``), best first: highest ``query_share``, then
        ``index_share``, then smallest ``distance``, then entry id.

        A query with no usable frame (all below ``quality_min``) matches nothing.
        ``threshold`` above ``max_threshold`` is :class:`InvalidInput`.
        """
        hashes = self._usable(frames)
        if not len(hashes) or not len(self._frames):
            self._frames.query_many(_NO_FRAMES, threshold)  # still refuse a bad threshold
            return []
        found = self._frames.query_many(hashes, threshold)
        counts = np.fromiter((len(hits) for hits in found), dtype=np.int64, count=len(found))
        total = int(counts.sum())
        if not total:
            return []
        query_rows = np.repeat(np.arange(len(found), dtype=np.int64), counts)
        frame_ids = np.fromiter(
            (hit.entry_id for hits in found for hit in hits), dtype=np.int64, count=total
        )
        distances = np.fromiter(
            (hit.distance for hits in found for hit in hits), dtype=np.int64, count=total
        )
        return self._hits(query_rows, frame_ids, distances, len(hashes))

    def _hits(
        self,
        query_rows: NDArray[np.int64],
        frame_ids: NDArray[np.int64],
        distances: NDArray[np.int64],
        usable: int,
    ) -> list[VideoHit]:
        """Per banked video: the shares of both sides and the smallest distance."""
        owners = self._owner[frame_ids]
        order = np.lexsort((query_rows, owners))  # by entry, then query hash
        owners, query_rows = owners[order], query_rows[order]
        entries, starts = np.unique(owners, return_index=True)
        # A query hash counts once per entry, however many of the entry's frames it hits.
        first_of_pair = np.ones(len(owners), dtype=np.int64)
        first_of_pair[1:] = (owners[1:] != owners[:-1]) | (query_rows[1:] != query_rows[:-1])
        query_hit = np.add.reduceat(first_of_pair, starts)
        nearest = np.minimum.reduceat(distances[order], starts)
        # A banked frame counts once, however many query hashes hit it (ids are per entry).
        hit_frames = np.unique(frame_ids)
        index_hit = np.bincount(
            np.searchsorted(entries, self._owner[hit_frames]), minlength=len(entries)
        )
        hits = [
            VideoHit(
                entry_id=entry,
                query_share=q / usable,
                index_share=i / self._videos[entry].size,
                distance=d,
            )
            for entry, q, i, d in zip(
                entries.tolist(),
                query_hit.tolist(),
                index_hit.tolist(),
                nearest.tolist(),
                strict=True,
            )
        ]
        hits.sort(key=lambda h: (-h.query_share, -h.index_share, h.distance, h.entry_id))
        return hits


def _entry_id(value: object) -> int:
    """An entry id as a non-negative int64 (``owner`` marks removed frames with -1);
    booleans, floats and out-of-range values are refused."""
    if isinstance(value, bool | np.bool_):
        raise InvalidInput(f"a video's entry id must be an integer, not {value!r}")
    try:
        key = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidInput(f"a video's entry id must be an integer, not {value!r}") from None
    if not 0 <= key < 2**63:
        raise InvalidInput(f"a video's entry id must be from 0 to 2**63 - 1, not {key}")
    return int(key)

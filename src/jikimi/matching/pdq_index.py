"""The PDQ index: every bank entry within a threshold of a hash, exactly, at 10 M entries.

Why not FAISS (what HMA uses): its multi-hash index keeps 8-byte ids per table in
hash maps and python-threatexchange adds Python dicts on top (about 540 bytes per
hash at 10 M, 14 ms per query); this index keeps flat arrays (about 95 bytes per
hash) and answers in a fraction of a millisecond, with no recall loss.

Shape of the structure::

    add / replace / remove (entry id = the caller's int64, e.g. the entry's seq)
        │
        ├─► delta: recent adds, brute-force scanned (at most 8 192 rows)
        │        │ full ─► folded into a new segment: ids above the segment's
        │        │         are appended and re-added ids overwrite their old
        │        │         (tombstoned) row in place, one linear pass per table
        │        │         (about 2 s at 10 M); other ids renumber (compaction)
        ├─► segment (mih.MihSegment): immutable multi-index, rows sorted by id
        │        └─ removed / replaced rows are tombstoned (1 byte per row) and
        │           dropped by a compaction (about 10 s at 10 M), which runs by
        │           itself once a quarter of the rows are dead
        ▼
    query(hash, threshold) = segment hits (minus tombstones) + delta hits

Guarantees: ``query`` returns every live entry whose hash is within
``threshold`` bits, and only those (``threshold`` ≤ ``max_threshold``, fixed at
construction: it decides how the 256 bits are cut into tables; 31 by default,
up to 64; higher maxima cost more per query). Re-adding an id replaces its hash;
a removed id is never returned once ``remove`` has returned.

Persistence: :meth:`PdqIndex.save` writes the state as it is (segment,
tombstones, delta; about 3 s for 1 GB at 10 M) atomically with the caller's
watermark (the id of the last database change applied); :meth:`PdqIndex.load`
returns the index and that watermark (about 2 s at 10 M), and the caller
replays newer changes (see :mod:`jikimi.matching.snapshot` for the crash story).

Concurrency: queries only read, so any number may run at once (their NumPy
gathers release the GIL); a change needs the index to itself, with no query
running. The matching service guards each index with a readers-writer lock.
An index whose change raised (a ``MemoryError`` mid-fold) may have lost that
change: rebuild it from the database.

Memory at 10 M random hashes: 32 (hash) + 8 (id) + 44 (11 tables × uint32
posting) + about 10 (bucket offsets) + 1 (tombstone flag) ≈ 95 bytes per hash,
plus tombstoned rows until compaction (about 98 at 1 M, with one bucket per
hash against 0.84 at 10 M). The 11 postings are the price of exactness at 31 bits with
sub-millisecond lookups: each table fewer saves 4 bytes a hash but widens the
flip budgets, and below 10 tables the p50 at 10 M passes 0.5 ms
(``python -m bench.mih_tables``; the arithmetic is in ``docs/matching.md``). Bulk loads should use
:meth:`PdqIndex.build` or large ``add_many`` calls (one pass, not one fold per
8 192 entries); single adds cost about 250 µs each at 10 M, folds included.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from jikimi.domain import DEFAULT_PDQ_THRESHOLD, SignalKind
from jikimi.errors import InvalidHash, InvalidInput
from jikimi.matching.mih import (
    BLOCK_BITS,
    MAX_KEY_BITS,
    MIN_KEY_BITS,
    WORDS,
    MihSegment,
    hamming,
    tables_for,
)
from jikimi.matching.snapshot import (
    SnapshotContents,
    SnapshotError,
    SnapshotProblem,
    read_snapshot,
    write_snapshot,
)

DEFAULT_MAX_THRESHOLD = DEFAULT_PDQ_THRESHOLD
"""PDQ's conventional match threshold (DESIGN.md), the default ceiling per index."""

MAX_SUPPORTED_THRESHOLD = 64
"""Exact beyond this too, but pointless for PDQ (unrelated images differ by ~128 bits)."""

PDQ_BYTES = 32
_HEX_DIGITS = 64
_QUERY_BATCH = 64
_DELTA_CAPACITY = 8192  # a brute-force scan of this many rows costs ~40 µs per query
_SCAN_CELLS = 1 << 20  # (query, delta row) pairs compared per brute-force step

_EMPTY = np.empty(0, dtype=np.int64)
_NO_HITS = (_EMPTY, _EMPTY, _EMPTY)

PdqHashes = Sequence[str] | NDArray[np.uint8]
"""Hashes as 64-digit hex strings, or as an (n, 32) uint8 array of their bytes."""


class PdqHit(NamedTuple):
    """One match: the caller's entry id and the Hamming distance in bits."""

    entry_id: int
    distance: int


def parse_pdq_hex(hashes: Sequence[str]) -> NDArray[np.uint8]:
    """(n, 32) bytes of PDQ hex strings (either case); :class:`InvalidHash` names a bad one.

    ``bytes.fromhex`` per string measured faster than a vectorised decode, for
    one query hash (4 µs against 37) and for a million (0.7 s against 2.5).
    """
    raw = bytearray()
    for position, text in enumerate(hashes):
        try:
            value = bytes.fromhex(text) if len(text) == _HEX_DIGITS else b""
        except (TypeError, ValueError):
            value = b""
        if len(value) != PDQ_BYTES:  # also catches spaces, which fromhex skips
            raise InvalidHash(f"PDQ hash #{position} is not 64 hex digits: {str(text)[:80]!r}")
        raw += value
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, PDQ_BYTES)


def _words(hashes: PdqHashes) -> NDArray[np.uint64]:
    """Hashes as (n, 4) uint64 rows: any fixed bit order preserves Hamming distance."""
    if isinstance(hashes, np.ndarray):
        if hashes.dtype != np.uint8 or hashes.ndim != 2 or hashes.shape[1] != PDQ_BYTES:
            raise InvalidInput(f"PDQ hash arrays are (n, 32) uint8, not {hashes.shape}")
        raw = np.ascontiguousarray(hashes)
    else:
        raw = parse_pdq_hex(hashes)
    return raw.view(np.uint64).reshape(-1, WORDS)


def _as_ids(ids: ArrayLike) -> NDArray[np.int64]:
    """Entry ids as int64; floats, booleans and out-of-range values are refused, not cast."""
    raw = np.asarray(ids)
    if raw.ndim != 1:
        raise InvalidInput("entry ids must be a one-dimensional sequence of integers")
    if raw.size and (
        raw.dtype.kind not in "iu" or (raw.dtype.kind == "u" and raw.max() > np.iinfo(np.int64).max)
    ):
        raise InvalidInput(f"entry ids must be int64 integers, not {raw.dtype} values")
    return raw.astype(np.int64, copy=False)


def _last_wins(
    ids: NDArray[np.int64], words: NDArray[np.uint64]
) -> tuple[NDArray[np.int64], NDArray[np.uint64]]:
    """Sorted unique ids; a repeated id keeps its last hash (re-adding replaces)."""
    if np.all(ids[1:] > ids[:-1]):  # already so (a database read in id order): no copies
        return ids, words
    unique, first_from_end = np.unique(ids[::-1], return_index=True)
    return unique, words[len(ids) - 1 - first_from_end]


class _Delta:
    """Recent adds, kept dense (removal moves the last row into the hole) and scanned."""

    def __init__(self) -> None:
        self.words = np.empty((256, WORDS), dtype=np.uint64)
        self.ids = np.empty(256, dtype=np.int64)
        self.slot: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.slot)

    @property
    def nbytes(self) -> int:
        return self.words.nbytes + self.ids.nbytes

    def put(self, ids: NDArray[np.int64], words: NDArray[np.uint64]) -> None:
        need = len(self.slot) + len(ids)
        if need > len(self.ids):
            size = max(need, 2 * len(self.ids))
            self.words = np.resize(self.words, (size, WORDS))
            self.ids = np.resize(self.ids, size)
        for entry_id, row in zip(ids.tolist(), words, strict=True):
            slot = self.slot.setdefault(entry_id, len(self.slot))
            self.words[slot] = row
            self.ids[slot] = entry_id

    def discard(self, entry_id: int) -> bool:
        slot = self.slot.pop(entry_id, None)
        if slot is None:
            return False
        last = len(self.slot)
        if slot != last:
            self.words[slot] = self.words[last]
            self.ids[slot] = self.ids[last]
            self.slot[int(self.ids[slot])] = slot
        return True

    def sorted_rows(self) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
        used = len(self.slot)
        order = np.argsort(self.ids[:used])
        return self.words[:used][order], self.ids[:used][order]

    def search(
        self, queries: NDArray[np.uint64], threshold: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """(query index, entry id, distance) by brute force over the live rows."""
        used = len(self.slot)
        if not used or not len(queries):
            return _NO_HITS
        found: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]] = []
        step = max(1, _SCAN_CELLS // used)
        for start in range(0, len(queries), step):
            batch = queries[start : start + step]
            xor = self.words[None, :used, :] ^ batch[:, None, :]
            distance = hamming(xor.reshape(-1, WORDS)).reshape(len(batch), used)
            owner, slot = np.nonzero(distance <= threshold)
            found.append((owner + start, self.ids[slot], distance[owner, slot]))
        owners, ids, distances = zip(*found, strict=True)
        return np.concatenate(owners), np.concatenate(ids), np.concatenate(distances)


class PdqIndex:
    """Exact PDQ matching by Hamming distance; entry ids are the caller's int64s."""

    def __init__(self, max_threshold: int = DEFAULT_MAX_THRESHOLD) -> None:
        if (
            isinstance(max_threshold, bool)
            or not isinstance(max_threshold, int)
            or not 0 <= max_threshold <= MAX_SUPPORTED_THRESHOLD
        ):
            raise InvalidInput(
                f"max_threshold must be an integer from 0 to {MAX_SUPPORTED_THRESHOLD}"
            )
        self._max_threshold = max_threshold
        self._segment = MihSegment.empty(tables_for(max_threshold))
        self._dead = np.zeros(0, dtype=np.bool_)
        self._dead_count = 0
        self._delta = _Delta()
        self._delta_capacity = _DELTA_CAPACITY

    @classmethod
    def build(
        cls, ids: ArrayLike, hashes: PdqHashes, max_threshold: int = DEFAULT_MAX_THRESHOLD
    ) -> PdqIndex:
        """An index of these entries in one pass (the way to load millions)."""
        index = cls(max_threshold)
        index.add_many(ids, hashes)
        return index

    @property
    def max_threshold(self) -> int:
        return self._max_threshold

    @property
    def nbytes(self) -> int:
        """Bytes held in arrays (segment, tombstones, delta); the delta's dict is extra."""
        return self._segment.nbytes + self._dead.nbytes + self._delta.nbytes

    def __len__(self) -> int:
        return self._segment.n - self._dead_count + len(self._delta)

    def __contains__(self, entry_id: object) -> bool:
        try:
            entry_id = operator.index(entry_id)  # type: ignore[arg-type]
        except TypeError:
            return False
        if entry_id in self._delta.slot:
            return True
        row = int(self._segment.rows_of(np.array([entry_id], dtype=np.int64))[0])
        return row >= 0 and not self._dead[row]

    # --- changes ---------------------------------------------------------------

    def add(self, entry_id: int, pdq: str) -> None:
        """Index ``pdq`` under ``entry_id``, replacing any hash the id had."""
        self.add_many([entry_id], [pdq])

    def add_many(self, ids: ArrayLike, hashes: PdqHashes) -> None:
        """Index many entries; a repeated id keeps its last hash."""
        ids_array, words = _as_ids(ids), _words(hashes)
        if len(ids_array) != len(words):
            raise InvalidInput(f"{len(ids_array)} entry ids for {len(words)} hashes")
        if not len(ids_array):
            return
        ids_array, words = _last_wins(ids_array, words)
        self._kill(ids_array)
        if len(self._delta) + len(ids_array) <= self._delta_capacity:
            self._delta.put(ids_array, words)
            return
        if not len(self._delta):
            # The segment keeps these arrays: never the caller's own (they may change it).
            self._fold(np.array(words), np.array(ids_array))
            return
        old_words, old_ids = self._delta.sorted_rows()
        replaced = np.isin(old_ids, ids_array)
        old_words, old_ids = old_words[~replaced], old_ids[~replaced]
        merged_ids = np.concatenate([old_ids, ids_array])
        order = np.argsort(merged_ids, kind="stable")
        self._fold(np.concatenate([old_words, words])[order], merged_ids[order])

    def defer_folds(self, rows: int) -> None:
        """Let up to ``rows`` adds wait in the scanned delta until :meth:`settle`.

        A fold rewrites every table (about 0.7 s at 2 M rows, however few rows it
        brings in), so a restart that replays the changes since its snapshot would
        pay it before it can answer. Deferred, those rows are found by the delta's
        brute-force scan (about 5 µs per 1,000 rows per query) until the service
        settles the index once it is ready.
        """
        self._delta_capacity = max(_DELTA_CAPACITY, rows)

    def settle(self) -> None:
        """End :meth:`defer_folds`: fold a delta grown past its usual size."""
        self._delta_capacity = _DELTA_CAPACITY
        if len(self._delta) > _DELTA_CAPACITY:
            self._fold(*self._delta.sorted_rows())

    def remove(self, entry_id: int) -> bool:
        """Forget ``entry_id``; False if it was not indexed (removing twice is harmless)."""
        return self.remove_many([entry_id]) == 1

    def remove_many(self, ids: ArrayLike) -> int:
        """Forget these ids; returns how many were indexed."""
        unique = np.unique(_as_ids(ids))
        removed = sum(self._delta.discard(entry_id) for entry_id in unique.tolist())
        return removed + self._kill(unique)

    def compact(self) -> None:
        """Fold the delta and drop every tombstone now.

        Renumbers every row (about 10 s at 10 M); it happens by itself once a
        quarter of the rows are dead, so call it only to reclaim memory early.
        """
        if len(self._delta) or self._dead_count:
            dead = self._dead if self._dead_count else None
            self._replace(self._segment.compacted(dead, *self._delta.sorted_rows()))

    def _kill(self, ids: NDArray[np.int64]) -> int:
        """Tombstone the segment rows of these (unique) ids; compact when a quarter is dead."""
        rows = self._segment.rows_of(ids)
        rows = rows[rows >= 0]
        rows = rows[~self._dead[rows]]
        self._dead[rows] = True
        self._dead_count += len(rows)
        if self._dead_count > max(_DELTA_CAPACITY, self._segment.n // 4):
            self.compact()
        return len(rows)

    def _fold(self, words: NDArray[np.uint64], ids: NDArray[np.int64]) -> None:
        """Move these rows (ids ascending, none live in the segment) into the segment.

        Ids the segment holds as tombstones are re-added in place and larger ids
        appended, keeping row numbers (cheap); anything else renumbers.
        """
        segment = self._segment
        rows = segment.rows_of(ids)
        moved = rows >= 0
        fresh = ids[~moved]
        in_order = not len(fresh) or not segment.n or fresh[0] > segment.ids[-1]
        if not segment.n or not in_order or segment.rekeys_at(segment.n + len(fresh)):
            dead = self._dead if self._dead_count else None
            self._replace(segment.compacted(dead, words, ids))
            return
        self._segment = segment.extended(rows[moved], words[moved], words[~moved], fresh)
        dead = np.concatenate([self._dead, np.zeros(len(fresh), dtype=np.bool_)])
        dead[rows[moved]] = False
        self._dead, self._dead_count = dead, int(np.count_nonzero(dead))
        self._delta = _Delta()

    def _replace(self, segment: MihSegment) -> None:
        """Adopt a segment holding every live entry (no tombstones, empty delta)."""
        self._segment = segment
        self._dead = np.zeros(segment.n, dtype=np.bool_)
        self._dead_count = 0
        self._delta = _Delta()

    # --- queries ---------------------------------------------------------------

    def query(self, pdq: str, threshold: int | None = None) -> list[PdqHit]:
        """Entries within ``threshold`` bits (default: ``max_threshold``), nearest first."""
        return self.query_many([pdq], threshold)[0]

    def query_many(self, hashes: PdqHashes, threshold: int | None = None) -> list[list[PdqHit]]:
        """:meth:`query` for each hash, answered in vectorised batches."""
        limit = self._threshold(threshold)
        words = _words(hashes)
        results: list[list[PdqHit]] = [[] for _ in range(len(words))]
        for start in range(0, len(words), _QUERY_BATCH):
            self._query_batch(words[start : start + _QUERY_BATCH], limit, results, start)
        return results

    def _query_batch(
        self,
        words: NDArray[np.uint64],
        threshold: int,
        results: list[list[PdqHit]],
        offset: int,
    ) -> None:
        owner, rows, distance = self._segment.search(words, threshold)
        if self._dead_count:
            alive = ~self._dead[rows]
            owner, rows, distance = owner[alive], rows[alive], distance[alive]
        delta_owner, delta_ids, delta_distance = self._delta.search(words, threshold)
        if not len(owner) + len(delta_owner):
            return
        owner = np.concatenate([owner, delta_owner])
        ids = np.concatenate([self._segment.ids[rows], delta_ids])
        distance = np.concatenate([distance, delta_distance])
        order = np.lexsort((ids, distance, owner))
        for who, entry_id, bits in zip(
            owner[order].tolist(), ids[order].tolist(), distance[order].tolist(), strict=True
        ):
            results[offset + who].append(PdqHit(entry_id, bits))

    def _threshold(self, threshold: int | None) -> int:
        if threshold is None:
            return self._max_threshold
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int)
            or not 0 <= threshold <= self._max_threshold
        ):
            raise InvalidInput(
                f"PDQ threshold must be an integer from 0 to {self._max_threshold} "
                f"(this index's max_threshold), not {threshold!r}"
            )
        return threshold

    # --- snapshots -------------------------------------------------------------

    def save(self, path: Path, watermark: int) -> None:
        """Write a snapshot atomically; ``watermark`` is the last change applied.

        The snapshot is the state as it is (segment, tombstones, delta): saving
        never rewrites the index.
        """
        segment = self._segment
        delta_words, delta_ids = self._delta.sorted_rows()
        write_snapshot(
            Path(path),
            SignalKind.PDQ.value,
            watermark,
            {
                "max_threshold": self._max_threshold,
                "tables": segment.tables,
                "key_bits": segment.key_bits,
                "block_bits": BLOCK_BITS,
            },
            {
                "words": segment.words,
                "ids": segment.ids,
                "postings": segment.postings,
                "block_start": segment.block_start,
                "bucket_offset": segment.bucket_offset,
                "dead": self._dead.view(np.uint8),
                "delta_words": delta_words,
                "delta_ids": delta_ids,
            },
        )

    @classmethod
    def load(cls, path: Path) -> tuple[PdqIndex, int]:
        """The saved index and its watermark; :class:`SnapshotError` means rebuild."""
        path = Path(path)
        contents = read_snapshot(path, SignalKind.PDQ.value)
        try:
            index = cls(contents.params["max_threshold"])
            index._restore(contents)
        except (InvalidInput, KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(path, SnapshotProblem.MALFORMED, str(exc)) from None
        return index, contents.watermark

    def _restore(self, contents: SnapshotContents) -> None:
        """Adopt a snapshot's state; ValueError if its parts do not fit together."""
        segment = _segment_from(contents)
        dead = contents.arrays["dead"]
        words, ids = contents.arrays["delta_words"], contents.arrays["delta_ids"]
        if dead.shape != (segment.n,) or dead.dtype != np.uint8 or np.any(dead > 1):
            raise ValueError("tombstones do not match the rows")
        if words.dtype != np.uint64 or words.shape != (len(ids), WORDS) or ids.dtype != np.int64:
            raise ValueError("delta rows are malformed")
        rows = segment.rows_of(ids)
        if np.any(np.diff(ids) <= 0) or np.any(dead[rows[rows >= 0]] == 0):
            raise ValueError("delta ids repeat, or are live in the segment too")
        self._segment = segment
        self._dead = dead.view(np.bool_)
        self._dead_count = int(np.count_nonzero(dead))
        self._delta.put(ids, words)


def _segment_from(contents: SnapshotContents) -> MihSegment:
    """Check a snapshot's arrays fit together; ValueError says what does not."""
    params, arrays = contents.params, contents.arrays
    tables, key_bits = int(params["tables"]), int(params["key_bits"])
    if tables != tables_for(int(params["max_threshold"])) or params["block_bits"] != BLOCK_BITS:
        raise ValueError("table layout does not match max_threshold")
    if not MIN_KEY_BITS <= key_bits <= min(MAX_KEY_BITS, 256 // tables):
        raise ValueError(f"key_bits {key_bits} out of range")
    words, ids, postings = arrays["words"], arrays["ids"], arrays["postings"]
    block_start, bucket_offset = arrays["block_start"], arrays["bucket_offset"]
    n, buckets = len(ids), tables << key_bits
    expected: dict[str, tuple[tuple[int, ...], Any]] = {
        "words": ((n, WORDS), np.uint64),
        "ids": ((n,), np.int64),
        "postings": ((tables * n,), np.uint32),
        "block_start": (((buckets >> BLOCK_BITS) + 1,), np.int64),
    }
    for name, (shape, dtype) in expected.items():
        if arrays[name].shape != shape or arrays[name].dtype != dtype:
            raise ValueError(f"{name} is {arrays[name].shape} {arrays[name].dtype}")
    if bucket_offset.shape != (buckets + 1,) or bucket_offset.dtype.kind != "u":
        raise ValueError("bucket_offset does not match the table layout")
    if n and (np.any(np.diff(ids) <= 0) or int(postings.max()) >= n):
        raise ValueError("ids are not strictly ascending, or a posting is out of range")
    if block_start[0] != 0 or block_start[-1] != tables * n or np.any(np.diff(block_start) < 0):
        raise ValueError("bucket offsets are not monotone")
    return MihSegment(
        tables=tables,
        width=256 // tables,
        key_bits=key_bits,
        words=words,
        ids=ids,
        postings=postings,
        block_start=block_start,
        bucket_offset=bucket_offset,
    )

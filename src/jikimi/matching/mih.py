"""Multi-index hashing: the exact, immutable core of the PDQ index.

Why multi-index hashing: a scan of 10 M hashes reads 320 MB per query, and an
approximate index loses matches. MIH is exact and touches a few thousand rows.

The pigeonhole argument. Cut ``tables`` disjoint keys of ``key_bits`` bits out of
the 256 bits (key j starts at bit ``j * width``). Give key j a budget ``b_j`` so
that ``sum(b_j + 1) == t + 1`` (a budget of -1 means "skip this key"). If
``distance(q, h) <= t`` then some key j of ``h`` is within ``b_j`` bits of the
same key of ``q``: otherwise the keys alone would differ in at least
``sum(b_j + 1) = t + 1`` bits. So probing, in every table j, each key within
``b_j`` flips of the query's key finds every hash within ``t``; each candidate is
then checked with an exact popcount. Nothing within ``t`` is missed, nothing
beyond ``t`` is returned.

With ``tables = ceil((max_threshold + 1) / 3)`` every budget is at most 2 flips
(1 + k + k(k-1)/2 probes per table); for PDQ's 31 that is 11 tables of 23-bit
chunks, about 2,800 probes and, at 10 M random hashes, about 3,300 candidates.

Layout (one CSR per table, all tables concatenated)::

    words          (n, 4) uint64   the hashes, rows in ascending id order
    ids            (n,)   int64    entry ids, ascending: id -> row is a binary search
    postings       (tables*n,) uint32  rows of table j at [j*n, (j+1)*n), by key
    block_start    one int64 per 64 buckets: where the block's postings start
    bucket_offset  one small uint per bucket: offset within its block

Bucket p spans ``postings[start(p):start(p+1)]`` with
``start(p) = block_start[p >> 6] + bucket_offset[p]``. The two-level offsets
cost 1 byte per bucket (uint8 while every 64-bucket block holds < 256 postings,
wider when hashes cluster) instead of 4, so about 10 bytes per hash for 11
tables at 10 M rather than 37. ``key_bits`` follows ``floor(log2(n)) + 1`` (one to
two buckets per hash at a build, up to four as rows go before a re-key), capped at the
chunk width (23 bits, reached at about 4 M hashes), which balances probes and
memory against candidates.

Cost is in random memory reads, not arithmetic: each stage (offsets, postings,
hash rows) is one vectorised gather over all probes of all queries in a batch,
so the CPU overlaps the cache misses. Candidates are checked in two steps: the
first 128 bits of each (half the copying and counting), then whole rows for the
few within the threshold on that half alone (a random row differs there by about
64 bits). Candidates stay grouped by query, so a hit's query comes from the group
bounds rather than a per-candidate owner array. A compiled (numba) per-probe loop was
measured no faster at 10 M (0.35 ms against 0.31: its misses are dependent and
serialised), so there is no compiled path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

WORDS = 4
"""A PDQ hash is 256 bits: four uint64 words per row."""

BLOCK_BITS = 6
MIN_KEY_BITS = 8
MAX_KEY_BITS = 28

_EMPTY_I64: NDArray[np.int64] = np.empty(0, dtype=np.int64)

Hits = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]
"""(query index, row, distance), one element per (query, row) pair within threshold."""


def tables_for(max_threshold: int) -> int:
    """Tables so that every key's budget is at most 2 flips at ``max_threshold``."""
    return max(1, -(-(max_threshold + 1) // 3))


def key_bits_for(n: int, width: int) -> int:
    """One to two buckets per row: fewer bits mean more candidates, more bits more memory.

    ``2**key_bits`` is the power of two above ``n``. Measured at 1 M random
    hashes (batches of 100): half a bucket per row (the power of two below)
    109 µs a query at 91.5 bytes a hash, one 86 µs at 98, two 74 µs at 111.
    From about 4 M rows the key is the whole chunk (23 bits at PDQ's 31), so
    the choice matters only for smaller banks.
    """
    return max(MIN_KEY_BITS, min(width, MAX_KEY_BITS, n.bit_length()))


def budgets(tables: int, threshold: int) -> list[int]:
    """Flip budgets per table summing (each plus one) to ``threshold + 1``."""
    units, extra = divmod(threshold + 1, tables)
    return [units + (1 if j < extra else 0) - 1 for j in range(tables)]


def hamming(x: NDArray[np.uint64]) -> NDArray[np.int64]:
    """Bits set per row of an (n, 4) XOR: int64, since a uint8 sum would wrap at 256."""
    counts = np.bitwise_count(x)
    total = counts[:, 0].astype(np.int64)
    for word in range(1, WORDS):
        total += counts[:, word]
    return total


def chunk_keys(
    words: NDArray[np.uint64], table: int, width: int, key_bits: int
) -> NDArray[np.uint32]:
    """Key ``table`` of every row: bits ``[table*width, table*width + key_bits)``."""
    word, shift = divmod(table * width, 64)
    x = words[:, word] >> np.uint64(shift)
    if shift + key_bits > 64:
        x |= words[:, word + 1] << np.uint64(64 - shift)
    x &= np.uint64((1 << key_bits) - 1)
    return x.astype(np.uint32)


@lru_cache(maxsize=64)
def _flip_masks(key_bits: int, flips: int) -> NDArray[np.int64]:
    """Every ``key_bits``-bit mask with at most ``flips`` bits set (0 first)."""
    masks = [
        sum(1 << bit for bit in chosen)
        for r in range(flips + 1)
        for chosen in combinations(range(key_bits), r)
    ]
    out = np.array(masks, dtype=np.int64)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=256)
def _probe_plan(
    tables: int, key_bits: int, threshold: int
) -> tuple[NDArray[np.intp], NDArray[np.int64]]:
    """For each probe: its table, and the XOR applied to the query's bucket in that table
    (the mask stays below ``2**key_bits``, so the table's bucket base is untouched)."""
    table_of, xor = [], []
    for table, budget in enumerate(budgets(tables, threshold)):
        if budget < 0:
            continue
        masks = _flip_masks(key_bits, min(budget, key_bits))
        table_of.append(np.full(len(masks), table, dtype=np.intp))
        xor.append(masks)
    plan = (np.concatenate(table_of), np.concatenate(xor))
    for array in plan:
        array.setflags(write=False)
    return plan


def _smallest_uint(max_value: int) -> type[np.unsignedinteger[Any]]:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dtype).max:
            return dtype
    return np.uint64


def _block_parts(
    table: int, n: int, bounds: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.unsignedinteger[Any]]]:
    """Two-level offsets of one table from its local bucket bounds (``2**k + 1``).

    Works in place on ``bounds`` (10 M-row tables have 8 M buckets: every
    temporary array here costs a page-faulting allocation of 64 MB).
    """
    starts = bounds[:-1]
    starts += table * n
    block = starts[:: 1 << BLOCK_BITS].copy()
    starts.reshape(-1, 1 << BLOCK_BITS)[:] -= block[:, None]
    return block, starts.astype(_smallest_uint(int(starts.max(initial=0))))


def _exclusive_cumsum(counts: NDArray[np.int64]) -> NDArray[np.int64]:
    """Bucket bounds from bucket sizes: ``len(counts) + 1`` offsets starting at 0."""
    bounds = np.empty(len(counts) + 1, dtype=np.int64)
    bounds[0] = 0
    np.cumsum(counts, out=bounds[1:])
    return bounds


@dataclass(frozen=True, eq=False)
class MihSegment:
    """An immutable multi-index over rows sorted by id. Changes produce a new segment."""

    tables: int
    width: int
    key_bits: int
    words: NDArray[np.uint64]
    ids: NDArray[np.int64]
    postings: NDArray[np.uint32]
    block_start: NDArray[np.int64]
    bucket_offset: NDArray[np.unsignedinteger[Any]]

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        arrays = (self.words, self.ids, self.postings, self.block_start, self.bucket_offset)
        return sum(a.nbytes for a in arrays)

    @classmethod
    def empty(cls, tables: int) -> MihSegment:
        return cls.build(tables, np.empty((0, WORDS), dtype=np.uint64), np.empty(0, dtype=np.int64))

    @classmethod
    def build(cls, tables: int, words: NDArray[np.uint64], ids: NDArray[np.int64]) -> MihSegment:
        """Index ``words`` (rows aligned with ``ids``, which are ascending and unique)."""
        width = 256 // tables
        n, key_bits = len(ids), key_bits_for(len(ids), width)
        postings = np.empty(tables * n, dtype=np.uint32)
        blocks, rels = [], []
        for table in range(tables):
            keys = chunk_keys(words, table, width, key_bits)
            postings[table * n : (table + 1) * n] = np.argsort(keys)
            bounds = _exclusive_cumsum(np.bincount(keys, minlength=1 << key_bits))
            block, rel = _block_parts(table, n, bounds)
            blocks.append(block)
            rels.append(rel)
        return cls._assemble(tables, key_bits, words, ids, postings, blocks, rels)

    @classmethod
    def _assemble(
        cls,
        tables: int,
        key_bits: int,
        words: NDArray[np.uint64],
        ids: NDArray[np.int64],
        postings: NDArray[np.uint32],
        blocks: list[NDArray[np.int64]],
        rels: list[NDArray[np.unsignedinteger[Any]]],
    ) -> MihSegment:
        # The sentinel entries make start(p + 1) valid for the very last bucket.
        end = np.array([tables * len(ids)], dtype=np.int64)
        return cls(
            tables=tables,
            width=256 // tables,
            key_bits=key_bits,
            words=words,
            ids=ids,
            postings=postings,
            block_start=np.concatenate([*blocks, end]),
            bucket_offset=np.concatenate([*rels, np.zeros(1, dtype=np.uint8)]),
        )

    def rekeys_at(self, n: int) -> bool:
        """Whether ``n`` rows call for another key width (with hysteresis, so a
        count hovering at a power of two does not rebuild again and again)."""
        return not self.key_bits - 1 <= key_bits_for(n, self.width) <= self.key_bits

    def extended(
        self,
        moved_rows: NDArray[np.int64],
        moved_words: NDArray[np.uint64],
        words_in: NDArray[np.uint64],
        ids_in: NDArray[np.int64],
    ) -> MihSegment:
        """Rows ``moved_rows`` take new hashes and rows ``ids_in`` are appended.

        Every existing row keeps its number (``ids_in`` must be ascending and
        above every id here, and ``moved_rows`` unique), so each table is
        rewritten in one sequential pass: the postings of moved rows leave their
        old buckets, new postings go to the end of theirs, and only the offset
        blocks those buckets sit in change. This is how the delta is folded at
        10 M rows in about 2 s; :meth:`compacted` handles everything else.
        """
        n_old, n_new, k = self.n, self.n + len(ids_in), self.key_bits
        words = np.concatenate([self.words, words_in])
        words[moved_rows] = moved_words
        ids = np.concatenate([self.ids, ids_in])
        new_rows = np.concatenate([moved_rows, np.arange(n_old, n_new, dtype=np.int64)])
        new_words = np.concatenate([moved_words, words_in])
        old_words = self.words[moved_rows]
        postings = np.empty(self.tables * n_new, dtype=np.uint32)
        old_slots = np.empty(n_new, dtype=np.bool_)
        blocks, rels = [], []
        for table in range(self.tables):
            gone = np.sort(chunk_keys(old_words, table, self.width, k).astype(np.int64))
            keys = chunk_keys(new_words, table, self.width, k).astype(np.int64)
            order = np.argsort(keys, kind="stable")
            came = keys[order]
            old = self.postings[table * n_old : (table + 1) * n_old]
            kept = np.delete(old, self._positions_of(table, moved_rows, old_words))
            # A new posting lands at its bucket's end, moved back by the postings
            # that left buckets up to it and on by the new ones placed before it.
            at = self._starts((table << k) + came + 1) - table * n_old
            at -= np.searchsorted(gone, came, side="right")
            at += np.arange(len(came))
            target = postings[table * n_new : (table + 1) * n_new]
            old_slots.fill(True)
            old_slots[at] = False
            target[old_slots] = kept
            target[at] = new_rows[order]
            block, rel = self._patched_offsets(table, n_new, came, gone)
            blocks.append(block)
            rels.append(rel)
        return MihSegment._assemble(self.tables, k, words, ids, postings, blocks, rels)

    def _positions_of(
        self, table: int, rows: NDArray[np.int64], words: NDArray[np.uint64]
    ) -> NDArray[np.int64]:
        """Where in ``table``'s postings these rows (whose hashes are ``words``) sit."""
        own = chunk_keys(words, table, self.width, self.key_bits).astype(np.int64)
        keys = (table << self.key_bits) + own
        start = self._starts(keys)
        lengths = self._starts(keys + 1) - start
        ends = np.cumsum(lengths)
        positions = np.repeat(start - (ends - lengths), lengths) + np.arange(int(ends[-1:].sum()))
        found = self.postings[positions] == np.repeat(rows, lengths)
        located: NDArray[np.int64] = positions[found] - table * self.n
        return located

    def _patched_offsets(
        self,
        table: int,
        n_new: int,
        came: NDArray[np.int64],
        gone: NDArray[np.int64],
    ) -> tuple[NDArray[np.int64], NDArray[np.unsignedinteger[Any]]]:
        """Two-level offsets of ``table`` once postings with keys ``came`` arrive and
        postings with keys ``gone`` leave: only blocks holding those keys change."""
        per_block, buckets = 1 << BLOCK_BITS, 1 << self.key_bits
        first = table * buckets
        keys = np.concatenate([came, gone])
        step = np.concatenate([np.ones(len(came), np.int64), -np.ones(len(gone), np.int64)])
        key_block = keys >> BLOCK_BITS
        # A block starts later by what arrived in earlier blocks (and earlier tables).
        blocks = buckets >> BLOCK_BITS
        shift = np.bincount(came >> BLOCK_BITS, minlength=blocks)
        shift -= np.bincount(gone >> BLOCK_BITS, minlength=blocks)
        block = self.block_start[first >> BLOCK_BITS : (first + buckets) >> BLOCK_BITS].copy()
        block[1:] += np.cumsum(shift[:-1])
        block += table * (n_new - self.n)
        # Inside a block, a bucket starts later by what arrived below it there.
        touched, row = np.unique(key_block, return_inverse=True)
        bump = np.zeros((len(touched), per_block + 1), dtype=np.int64)
        np.add.at(bump, (row, (keys & (per_block - 1)) + 1), step)
        old = self.bucket_offset[first : first + buckets]
        grown = old.reshape(-1, per_block)[touched] + np.cumsum(bump[:, :per_block], axis=1)
        rel = old.astype(np.result_type(old, _smallest_uint(int(grown.max(initial=0)))))
        rel.reshape(-1, per_block)[touched] = grown
        return block, rel

    def compacted(
        self,
        dead: NDArray[np.bool_] | None,
        words_in: NDArray[np.uint64],
        ids_in: NDArray[np.int64],
    ) -> MihSegment:
        """This segment without the ``dead`` rows, plus new rows, renumbered by id.

        ``ids_in`` must be ascending, unique and absent from the live rows. Each
        table is renumbered in a linear pass (no re-sort) unless the row count
        calls for another key width, when the segment is rebuilt.
        """
        keep = None if dead is None or not dead.any() else ~dead
        kept_ids = self.ids if keep is None else self.ids[keep]
        n_new = len(kept_ids) + len(ids_in)
        pos_kept = np.arange(len(kept_ids)) + np.searchsorted(ids_in, kept_ids)
        pos_in = np.searchsorted(kept_ids, ids_in) + np.arange(len(ids_in))
        words = np.empty((n_new, WORDS), dtype=np.uint64)
        ids = np.empty(n_new, dtype=np.int64)
        words[pos_kept] = self.words if keep is None else self.words[keep]
        words[pos_in] = words_in
        ids[pos_kept] = kept_ids
        ids[pos_in] = ids_in
        if self.n == 0 or self.rekeys_at(n_new):
            return MihSegment.build(self.tables, words, ids)
        remap = np.full(self.n, -1, dtype=np.int64)
        remap[slice(None) if keep is None else keep] = pos_kept
        return self._renumbered(words, ids, remap, words_in, pos_in)

    def _renumbered(
        self,
        words: NDArray[np.uint64],
        ids: NDArray[np.int64],
        remap: NDArray[np.int64],
        words_in: NDArray[np.uint64],
        pos_in: NDArray[np.int64],
    ) -> MihSegment:
        """Same key width: renumber surviving postings, drop dead ones, insert new ones."""
        n_old, n_new, k = self.n, len(ids), self.key_bits
        postings = np.empty(self.tables * n_new, dtype=np.uint32)
        old_slots = np.empty(n_new, dtype=np.bool_)
        blocks, rels = [], []
        for table in range(self.tables):
            keys = chunk_keys(words_in, table, self.width, k).astype(np.int64)
            order = np.argsort(keys, kind="stable")
            came = keys[order]
            mapped = remap[self.postings[table * n_old : (table + 1) * n_old]]
            alive = mapped >= 0
            bounds = _exclusive_cumsum(alive.astype(np.int64))[self._table_bounds(table)]
            # Each new posting goes to its bucket's end, shifted by the new
            # postings placed before it.
            at = bounds[came + 1] + np.arange(len(came))
            target = postings[table * n_new : (table + 1) * n_new]
            old_slots.fill(True)
            old_slots[at] = False
            target[old_slots] = mapped[alive]
            target[at] = pos_in[order]
            bounds[1:] += np.cumsum(np.bincount(came, minlength=1 << k))
            block, rel = _block_parts(table, n_new, bounds)
            blocks.append(block)
            rels.append(rel)
        return MihSegment._assemble(self.tables, k, words, ids, postings, blocks, rels)

    def _table_bounds(self, table: int) -> NDArray[np.int64]:
        """Local bucket bounds of one table (``2**k + 1`` offsets into its postings)."""
        buckets = 1 << self.key_bits
        first = table * buckets
        bounds = np.empty(buckets + 1, dtype=np.int64)
        bounds[:buckets] = self.bucket_offset[first : first + buckets]
        blocks = self.block_start[first >> BLOCK_BITS : (first + buckets) >> BLOCK_BITS]
        bounds[:buckets].reshape(-1, 1 << BLOCK_BITS)[:] += blocks[:, None]
        bounds[buckets] = (table + 1) * self.n
        bounds -= table * self.n
        return bounds

    def _starts(self, p: NDArray[np.int64]) -> NDArray[np.int64]:
        start: NDArray[np.int64] = self.block_start[p >> BLOCK_BITS] + self.bucket_offset[p]
        return start

    def rows_of(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Row of each id, or -1 where the id is not in this segment."""
        rows = np.searchsorted(self.ids, ids)
        found = rows < self.n
        found[found] = self.ids[rows[found]] == ids[found]
        return np.where(found, rows, -1)

    def search(self, queries: NDArray[np.uint64], threshold: int) -> Hits:
        """Every (query, row) within ``threshold`` bits; ``threshold`` at most the max."""
        if self.n == 0 or len(queries) == 0:
            return _EMPTY_I64, _EMPTY_I64, _EMPTY_I64
        table_of, xor = _probe_plan(self.tables, self.key_bits, threshold)
        probes = (self._query_buckets(queries)[:, table_of] ^ xor).ravel()
        start, stop = self._bounds(probes)
        lengths = stop - start
        ends = np.cumsum(lengths)
        # Candidate i of a bucket sits at postings[start + i], and at ends - lengths + i here.
        positions = np.repeat(stop - ends, lengths)
        positions += np.arange(len(positions))
        postings = self.postings.take(positions)
        # Candidates come grouped by query: query q owns [per_query[q-1], per_query[q]).
        per_query = ends[len(xor) - 1 :: len(xor)]
        near = self._near_front(queries, postings, per_query, threshold)
        owner = np.searchsorted(per_query, near, side="right")
        rows = postings[near].astype(np.int64)
        distance = hamming(self.words[rows] ^ queries[owner])
        close = distance <= threshold
        owner, rows, distance = owner[close], rows[close], distance[close]
        if len(rows) > 1:
            # A near row can be reached through several tables: keep one of each pair.
            _, first = np.unique(owner * self.n + rows, return_index=True)
            owner, rows, distance = owner[first], rows[first], distance[first]
        return owner, rows, distance

    def _bounds(self, probes: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Start and end of each probed bucket: one gather per offset array, for
        ``p`` and ``p + 1`` interleaved so that the second read is a cache hit."""
        both = np.repeat(probes, 2)
        both[1::2] += 1
        bounds = self.block_start.take(both >> BLOCK_BITS)
        bounds += self.bucket_offset.take(both)
        return bounds[0::2], bounds[1::2]

    def _near_front(
        self,
        queries: NDArray[np.uint64],
        postings: NDArray[np.uint32],
        per_query: NDArray[np.int64],
        threshold: int,
    ) -> NDArray[np.intp]:
        """Candidates whose first 128 bits alone are within ``threshold`` of their query.

        A lower bound of the distance, so nothing within ``threshold`` is lost,
        while a random row differs there by about 64 bits and is dropped: only
        half of each row is copied and counted (a 32-byte row costs the same
        cache miss, but the copy, XOR and popcount are halved).
        """
        halves = self.words.view(np.dtype((np.void, 16))).reshape(-1)
        front = halves.take(np.multiply(postings, 2, dtype=np.intp)).view(np.uint64).reshape(-1, 2)
        counts = per_query.copy()
        counts[1:] -= per_query[:-1]
        front ^= np.repeat(queries[:, :2], counts, axis=0)
        bits = np.bitwise_count(front)
        return np.flatnonzero(bits[:, 0] + bits[:, 1] <= threshold)

    def _query_buckets(self, queries: NDArray[np.uint64]) -> NDArray[np.int64]:
        """(q, tables) buckets: each table's base plus the key :func:`chunk_keys` cuts.
        Python ints beat 11 tiny NumPy passes for the handful of queries a batch holds."""
        mask = (1 << self.key_bits) - 1
        cuts = [(table * self.width, table << self.key_bits) for table in range(self.tables)]
        keys = []
        for w0, w1, w2, w3 in queries.tolist():
            value = w0 | w1 << 64 | w2 << 128 | w3 << 192
            keys.append([((value >> shift) & mask) | base for shift, base in cuts])
        return np.array(keys, dtype=np.int64).reshape(len(queries), self.tables)

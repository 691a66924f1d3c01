"""The search's shortcuts stay exact: the 128-bit pre-filter, and hits traced to their query.

The segment first counts only the first 16 bytes of each candidate (a lower bound),
then the whole row for the few that pass; candidates are grouped per query and a
hit's query is found from the group bounds. These tests put the differing bits on
either side of that split and check owners against brute force.
"""

from __future__ import annotations

import numpy as np
import pytest
from matching_helpers import distance_matrix, random_hashes

from jikimi.matching.mih import MihSegment, tables_for


def _words(rows: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rows).view(np.uint64).reshape(-1, 4)


def _flip_bytes(row: np.ndarray, bits: int, first_byte: int) -> np.ndarray:
    """``row`` with ``bits`` bits flipped, all in bytes from ``first_byte`` on."""
    out = row.copy()
    for bit in range(bits):
        out[first_byte + bit // 8] ^= np.uint8(1 << (bit % 8))
    return out


def _hits(segment: MihSegment, queries: np.ndarray, t: int) -> set[tuple[int, int, int]]:
    owner, rows, dist = segment.search(_words(queries), t)
    return set(zip(owner.tolist(), rows.tolist(), dist.tolist(), strict=True))


@pytest.mark.parametrize("first_byte", [0, 8, 16, 24])
def test_distance_split_around_the_prefilter_is_exact(first_byte: int) -> None:
    """Rows at t and t + 1 bits, the flips all in one half or straddling it."""
    rng = np.random.default_rng(11)
    base = random_hashes(rng, 1)[0]
    t = 20 if first_byte < 24 else 16  # 24 + 16 bits stay inside the 32 bytes
    noise = random_hashes(rng, 3000)
    rows = np.concatenate([noise, [_flip_bytes(base, t, first_byte)]])
    rows = np.concatenate([rows, [_flip_bytes(base, t + 1, first_byte)]])
    segment = MihSegment.build(tables_for(31), _words(rows), np.arange(len(rows), dtype=np.int64))
    at_t, beyond = len(rows) - 2, len(rows) - 1
    assert _hits(segment, base[None, :], t) == {(0, at_t, t)}
    assert (0, beyond, t + 1) in _hits(segment, base[None, :], t + 1)


def test_owners_of_a_batch_match_brute_force() -> None:
    """Many queries, some with no candidates at all, some sharing rows: each hit
    goes to the right query with the right distance."""
    rng = np.random.default_rng(12)
    rows = random_hashes(rng, 5000)
    picks = rng.integers(0, len(rows), size=40)
    flips = rng.integers(0, 32, size=len(picks))
    near = np.array([_flip_bytes(rows[p], int(f), 16) for p, f in zip(picks, flips, strict=True)])
    queries = np.concatenate([near, random_hashes(rng, 40), rows[picks[:10]]])
    rng.shuffle(queries)
    segment = MihSegment.build(tables_for(31), _words(rows), np.arange(len(rows), dtype=np.int64))
    dist = distance_matrix(rows, queries)
    for t in (0, 12, 31):
        want = {(q, r, int(dist[q, r])) for q, r in zip(*np.nonzero(dist <= t), strict=True)}
        got = _hits(segment, queries, t)
        assert got == want
        assert len(got) >= 10 + np.count_nonzero(flips <= t)  # the planted ones at least
        owner, found, _ = segment.search(_words(queries), t)
        pairs = owner * segment.n + found
        assert np.all(np.diff(pairs) > 0)  # sorted by (query, row), no repeats


def test_wide_threshold_beyond_half_the_prefilter() -> None:
    """At threshold 64 a row can be 64 bits off in its first half alone."""
    rng = np.random.default_rng(13)
    rows = random_hashes(rng, 500)
    base = rows[7]
    rows[8] = _flip_bytes(base, 64, 0)  # the whole difference inside the first 16 bytes
    rows[9] = _flip_bytes(base, 65, 0)
    segment = MihSegment.build(tables_for(64), _words(rows), np.arange(len(rows), dtype=np.int64))
    got = _hits(segment, base[None, :], 64)
    dist = distance_matrix(rows, base[None, :])[0]
    assert got == {(0, int(r), int(dist[r])) for r in np.flatnonzero(dist <= 64)}
    assert (0, 8, 64) in got
    assert all(row != 9 for _, row, _ in got)

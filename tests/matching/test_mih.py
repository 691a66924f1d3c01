"""The multi-index core: the pigeonhole plan is sound and every way of changing a segment agrees."""

from __future__ import annotations

import numpy as np
import pytest
from matching_helpers import flip, random_hashes

from jikimi.matching.mih import (
    MAX_KEY_BITS,
    MIN_KEY_BITS,
    MihSegment,
    budgets,
    key_bits_for,
    tables_for,
)


@pytest.mark.parametrize("max_threshold", range(65))
def test_plan_is_a_valid_pigeonhole(max_threshold: int) -> None:
    tables = tables_for(max_threshold)
    width = 256 // tables
    for t in range(max_threshold + 1):
        plan = budgets(tables, t)
        assert sum(b + 1 for b in plan) == t + 1
        assert max(plan) <= 2  # cheap probes at every threshold up to the maximum
    for n in (0, 1, 1000, 10**7, 2**40):
        k = key_bits_for(n, width)
        assert MIN_KEY_BITS <= k <= min(width, MAX_KEY_BITS)
        assert (tables - 1) * width + k <= 256  # the keys are disjoint and inside the hash


def _segment(words: np.ndarray, ids: np.ndarray) -> MihSegment:
    order = np.argsort(ids)
    return MihSegment.build(tables_for(31), words[order], ids[order])


def _hits(segment: MihSegment, queries: np.ndarray, t: int) -> set[tuple[int, int, int]]:
    owner, rows, dist = segment.search(queries, t)
    return set(zip(owner.tolist(), segment.ids[rows].tolist(), dist.tolist(), strict=True))


def _words(rows: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rows).view(np.uint64).reshape(-1, 4)


def _check_same(changed: MihSegment, fresh: MihSegment, queries: np.ndarray) -> None:
    """A changed segment holds what a fresh build of its rows would, and answers alike."""
    assert np.array_equal(changed.ids, fresh.ids)
    assert np.array_equal(changed.words, fresh.words)
    # Bucket bounds depend only on bucket sizes, so patched offsets equal rebuilt ones.
    assert np.array_equal(changed.block_start, fresh.block_start)
    assert np.array_equal(changed.bucket_offset, fresh.bucket_offset)
    for t in (0, 9, 31):
        got = _hits(changed, queries, t)
        assert got == _hits(fresh, queries, t)
        assert len(got) >= 50  # the exact copies at least


@pytest.mark.parametrize("case", ["append", "append_crowded", "move", "move_and_append"])
def test_extended_equals_fresh_build(rng: np.random.Generator, case: str) -> None:
    """Rows keep their numbers: new hashes for some rows, new rows at the end."""
    rows = random_hashes(rng, 3000)
    ids = np.arange(0, 6000, 2, dtype=np.int64)
    appended = np.array([flip(rng, row, int(rng.integers(0, 30))) for row in rows[:600]])
    if case == "append_crowded":  # 600 copies of one hash overflow a uint8 offset block
        appended = np.repeat(appended[:1], 600, axis=0)
    if case == "move":
        appended = appended[:0]
    moved = np.sort(rng.choice(3000, size=0 if case.startswith("append") else 400, replace=False))
    moved_rows = random_hashes(rng, len(moved))
    moved_rows[: len(moved) // 4] = rows[moved[: len(moved) // 4]]  # same hash again is fine
    new_ids = np.arange(10_000, 10_000 + len(appended), dtype=np.int64)
    base = _segment(_words(rows), ids)
    changed = base.extended(moved, _words(moved_rows), _words(appended), new_ids)
    after = rows.copy()
    after[moved] = moved_rows
    fresh = _segment(_words(np.concatenate([after, appended])), np.concatenate([ids, new_ids]))
    assert changed.key_bits == base.key_bits
    if case.startswith("append"):
        assert changed.bucket_offset.dtype == fresh.bucket_offset.dtype
        assert (changed.bucket_offset.dtype == np.uint16) == (case == "append_crowded")
    queries = np.concatenate([after[:30], moved_rows[:20], appended[:20], random_hashes(rng, 10)])
    _check_same(changed, fresh, _words(queries))


@pytest.mark.parametrize("case", ["interleave", "with_dead"])
def test_compacted_equals_fresh_build(rng: np.random.Generator, case: str) -> None:
    """Rows are renumbered: new ids between old ones, dead rows dropped."""
    rows = random_hashes(rng, 3000)
    ids = np.arange(0, 6000, 2, dtype=np.int64)
    new_rows = np.array([flip(rng, row, int(rng.integers(0, 30))) for row in rows[:600]])
    new_ids = np.arange(1, 1201, 2, dtype=np.int64)
    dead = np.zeros(len(ids), dtype=np.bool_)
    if case == "with_dead":
        dead[rng.choice(len(ids), size=700, replace=False)] = True
    base = _segment(_words(rows), ids)
    changed = base.compacted(dead, _words(new_rows), new_ids)
    fresh = _segment(
        np.concatenate([_words(rows)[~dead], _words(new_rows)]),
        np.concatenate([ids[~dead], new_ids]),
    )
    assert changed.key_bits == base.key_bits  # the linear pass, not a rebuild
    queries = _words(np.concatenate([rows[:50], new_rows[:50], random_hashes(rng, 10)]))
    _check_same(changed, fresh, queries)


def test_search_skips_nothing_in_a_crowded_bucket(rng: np.random.Generator) -> None:
    """Thousands of identical hashes (a common image) need wider bucket offsets."""
    row = random_hashes(rng, 1)
    words = _words(np.concatenate([np.repeat(row, 5000, axis=0), random_hashes(rng, 500)]))
    segment = _segment(words, np.arange(len(words), dtype=np.int64))
    assert segment.bucket_offset.dtype.itemsize >= 2
    _owner, rows, dist = segment.search(_words(row), 0)
    assert sorted(rows.tolist()) == list(range(5000)) and not dist.any()

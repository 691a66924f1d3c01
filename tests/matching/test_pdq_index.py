"""PdqIndex is exact: every entry within the threshold, none beyond, through every change."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from matching_helpers import (
    brute_force_many,
    clustered_hashes,
    distance,
    flip,
    hexes,
    random_hashes,
)

from jikimi.errors import InvalidHash, InvalidInput
from jikimi.matching import PdqHit, PdqIndex, parse_pdq_hex
from jikimi.matching import pdq_index as pdq_module
from jikimi.matching.mih import MihSegment


def _model(ids: list[int], rows: np.ndarray) -> dict[int, np.ndarray]:
    return dict(zip(ids, rows, strict=True))


def _queries(rng: np.random.Generator, rows: np.ndarray, count: int) -> np.ndarray:
    """Indexed hashes, near-duplicates (0..40 bits away) and unrelated random hashes."""
    picks = rows[rng.integers(0, len(rows), size=count)]
    near = [flip(rng, row, int(rng.integers(0, 41))) for row in picks[count // 3 :]]
    return np.concatenate([picks[: count // 3], np.array(near), random_hashes(rng, count // 4)])


def _check(
    index: PdqIndex, model: dict[int, np.ndarray], queries: np.ndarray, thresholds: list[int]
) -> list[int]:
    """Assert exactness for every query and threshold; return hits per threshold."""
    expected = brute_force_many(model, queries, thresholds)
    hits = []
    for t in thresholds:
        got = [[tuple(hit) for hit in found] for found in index.query_many(queries, t)]
        assert got == expected[t]
        hits.append(sum(map(len, got)))
    return hits


@pytest.mark.parametrize("max_threshold", [0, 7, 31, 64])
@pytest.mark.parametrize("where", ["segment", "delta"])
def test_exact_on_random_and_clustered_hashes(
    rng: np.random.Generator, max_threshold: int, where: str
) -> None:
    rows = np.concatenate([random_hashes(rng, 1500), clustered_hashes(rng, 60, 25)])
    ids = rng.permutation(10 * len(rows))[: len(rows)].tolist()
    index = PdqIndex(max_threshold)
    index.add_many(ids, rows)
    if where == "segment":
        index.compact()
    queries = _queries(rng, rows, 120)
    thresholds = sorted({0, min(1, max_threshold), max_threshold // 2, max_threshold})
    hits = _check(index, _model(ids, rows), queries, thresholds)
    assert min(hits) >= 40  # not vacuous: at least the 40 exact copies match


@pytest.mark.parametrize("where", ["segment", "delta"])
@pytest.mark.parametrize("t", [0, 1, 2, 15, 30, 31])
def test_threshold_boundary_is_inclusive(rng: np.random.Generator, where: str, t: int) -> None:
    query = random_hashes(rng, 1)[0]
    at = flip(rng, query, t)
    beyond = flip(rng, query, t + 1)
    index = PdqIndex()
    index.add_many([1, 2], np.array([at, beyond]))
    index.add_many(list(range(10, 1010)), random_hashes(rng, 1000))
    if where == "segment":
        index.compact()
    assert index.query(query.tobytes().hex(), t) == [PdqHit(1, t)]
    if t < 31:
        assert PdqHit(2, t + 1) in index.query(query.tobytes().hex(), t + 1)


@pytest.mark.parametrize("where", ["segment", "delta"])
def test_complement_is_256_bits_away_not_0(rng: np.random.Generator, where: str) -> None:
    row = random_hashes(rng, 1)[0]
    index = PdqIndex()
    index.add_many([1, 2], np.array([row, ~row]))
    if where == "segment":
        index.compact()
    assert index.query(row.tobytes().hex()) == [PdqHit(1, 0)]


def test_add_replace_remove_readd(rng: np.random.Generator) -> None:
    first, second = random_hashes(rng, 2)
    index = PdqIndex()
    index.add_many(list(range(100, 600)), random_hashes(rng, 500))
    index.add(7, first.tobytes().hex())
    index.compact()  # id 7 now lives in the segment
    assert 7 in index and len(index) == 501
    index.add(7, second.tobytes().hex())  # replace: the old hash must stop matching
    assert index.query(first.tobytes().hex(), 10) == []
    assert index.query(second.tobytes().hex(), 10) == [PdqHit(7, 0)]
    assert len(index) == 501
    assert index.remove(7) is True
    assert index.remove(7) is False
    assert 7 not in index and len(index) == 500
    assert index.query(second.tobytes().hex()) == []
    index.compact()
    assert index.query(second.tobytes().hex()) == []
    index.add(7, first.tobytes().hex())
    assert index.query(first.tobytes().hex(), 0) == [PdqHit(7, 0)]


def test_duplicate_ids_in_one_batch_keep_the_last(rng: np.random.Generator) -> None:
    a, b = random_hashes(rng, 2)
    index = PdqIndex.build([5, 5], np.array([a, b]))
    assert len(index) == 1
    assert index.query(b.tobytes().hex(), 0) == [PdqHit(5, 0)]
    assert index.query(a.tobytes().hex(), 31) == []


def test_entries_sharing_a_hash_are_all_returned(rng: np.random.Generator) -> None:
    row = random_hashes(rng, 1)[0]
    index = PdqIndex.build([3, 1, 2], np.array([row, row, row]))
    assert index.query(row.tobytes().hex(), 0) == [PdqHit(1, 0), PdqHit(2, 0), PdqHit(3, 0)]


def test_random_changes_stay_exact(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adds, replacements and removals in any id order, with folds and key-width changes."""
    monkeypatch.setattr(pdq_module, "_DELTA_CAPACITY", 64)  # fold often
    calls = {"build": 0, "extended": 0, "renumbered": 0}
    for name, attr in (("extended", "extended"), ("renumbered", "_renumbered")):
        real = getattr(MihSegment, attr)

        def spy(self: MihSegment, *args: object, _real: Any = real, _name: str = name) -> Any:
            calls[_name] += 1
            return _real(self, *args)

        monkeypatch.setattr(MihSegment, attr, spy)
    real_build = MihSegment.build.__func__  # type: ignore[attr-defined]

    def build(cls: type[MihSegment], *args: object) -> MihSegment:
        calls["build"] += 1
        return real_build(cls, *args)  # type: ignore[no-any-return]

    monkeypatch.setattr(MihSegment, "build", classmethod(build))
    index = PdqIndex()
    model: dict[int, np.ndarray] = {}
    centres = random_hashes(rng, 40)
    key_widths = set()
    next_id = 0
    for step in range(60):
        count = int(rng.integers(1, 200))
        # Mostly new ids in increasing order (as database sequence numbers come),
        # some re-adds of known ids (replacements, re-activations), a few stragglers.
        fresh = list(range(next_id, next_id + count))
        next_id += count
        again = rng.choice(list(model), size=count // 4).tolist() if model else []
        stray = rng.integers(0, next_id, size=1).tolist() if step % 9 == 8 else []
        ids = fresh + again + stray
        count = len(ids)
        base = centres[rng.integers(0, len(centres), size=count)]
        rows = np.array([flip(rng, row, int(rng.integers(0, 40))) for row in base])
        index.add_many(ids, rows)
        model.update(zip(ids, rows, strict=True))
        gone = rng.choice(list(model), size=min(len(model), int(rng.integers(0, 120))))
        assert index.remove_many(gone) == len(set(gone.tolist()))
        for entry_id in gone.tolist():
            model.pop(entry_id, None)
        if step % 7 == 0:
            index.compact()
        key_widths.add(index._segment.key_bits)
        assert len(index) == len(model)
        queries = np.array([flip(rng, centre, int(rng.integers(0, 20))) for centre in centres[:8]])
        _check(index, model, queries, [int(rng.integers(0, 32))])
    assert len(key_widths) >= 2  # the segment was rebuilt with a different key width
    assert calls["build"] >= 2 and calls["extended"] >= 10 and calls["renumbered"] >= 3


def test_removed_ids_are_never_returned(rng: np.random.Generator) -> None:
    rows = random_hashes(rng, 2000)
    index = PdqIndex.build(list(range(2000)), rows)
    index.add_many(list(range(2000, 2100)), random_hashes(rng, 100))
    removed = list(range(0, 2100, 3))
    index.remove_many(removed)
    queries = np.concatenate([rows[::3], rows[1::50]])
    returned = {hit.entry_id for hits in index.query_many(queries, 31) for hit in hits}
    assert returned and returned.isdisjoint(removed)


def test_query_many_equals_query(rng: np.random.Generator) -> None:
    rows = random_hashes(rng, 1000)
    index = PdqIndex.build(list(range(1000)), rows)
    queries = _queries(rng, rows, 150)  # more than one internal batch
    assert index.query_many(hexes(queries), 25) == [index.query(q, 25) for q in hexes(queries)]


def test_hex_is_case_insensitive_and_matches_bytes(rng: np.random.Generator) -> None:
    rows = random_hashes(rng, 3)
    assert np.array_equal(parse_pdq_hex([h.upper() for h in hexes(rows)]), rows)
    index = PdqIndex.build([1, 2, 3], hexes(rows))
    assert index.query(hexes(rows)[1].upper(), 0) == [PdqHit(2, 0)]


@pytest.mark.parametrize(
    "bad", ["", "0" * 63, "0" * 65, "g" + "0" * 63, "é" + "0" * 63, " " + "0" * 63, 5]
)
def test_bad_hashes_are_invalid_hash(bad: object) -> None:
    index = PdqIndex()
    with pytest.raises(InvalidHash):
        index.add(1, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidHash):
        index.query(bad)  # type: ignore[arg-type]


def test_bad_arguments_are_invalid_input(rng: np.random.Generator) -> None:
    index = PdqIndex(max_threshold=20)
    query = hexes(random_hashes(rng, 1))[0]
    for threshold in (21, -1, True, 3.0):
        with pytest.raises(InvalidInput):
            index.query(query, threshold)  # type: ignore[arg-type]
    for maximum in (-1, 65, True):
        with pytest.raises(InvalidInput):
            PdqIndex(maximum)
    with pytest.raises(InvalidInput):
        index.add_many([1, 2], random_hashes(rng, 3))
    for bad_ids in ([2**63], [2**64], [1.5], [True], [[1]]):
        with pytest.raises(InvalidInput):
            index.add_many(bad_ids, random_hashes(rng, 1))
    with pytest.raises(InvalidInput):
        index.add_many([1], np.zeros((1, 31), dtype=np.uint8))


def test_distance_helper_agrees_with_index(rng: np.random.Generator) -> None:
    a = random_hashes(rng, 1)[0]
    b = flip(rng, a, 13)
    assert distance(a, b) == 13
    assert PdqIndex.build([1], np.array([b])).query(a.tobytes().hex()) == [PdqHit(1, 13)]


def test_index_does_not_alias_the_callers_arrays(rng: np.random.Generator) -> None:
    rows = random_hashes(rng, 10_000)
    ids = np.arange(10_000, dtype=np.int64)
    index = PdqIndex.build(ids, rows)
    probe = rows[5].tobytes().hex()
    rows[:] = 0
    ids[:] = -1
    assert index.query(probe, 0) == [PdqHit(5, 0)]


def test_queries_from_many_threads_agree_with_one() -> None:
    """The service runs lookups side by side under a shared lock: reads must not interfere."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(41)
    rows = random_hashes(rng, 20_000)
    index = PdqIndex.build(np.arange(len(rows)), rows)
    index.add_many(np.arange(50_000, 50_100), random_hashes(rng, 100))  # a delta too
    batches = [_queries(rng, rows, 60) for _ in range(24)]
    alone = [index.query_many(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(index.query_many, batches))
    assert together == alone
    assert sum(len(hits) for result in alone for hits in result) >= 24 * 20  # exact copies


def test_deferred_folds_wait_in_the_delta_stay_exact_and_settle_once(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart's replay: adds wait in the scanned delta (no pass over the tables),
    lookups stay exact meanwhile, and settle() folds them in one pass."""
    monkeypatch.setattr(pdq_module, "_DELTA_CAPACITY", 64)
    folds = {"n": 0}
    real = PdqIndex._fold

    def spy(self: PdqIndex, *args: Any) -> None:
        folds["n"] += 1
        real(self, *args)

    monkeypatch.setattr(PdqIndex, "_fold", spy)
    rows = random_hashes(rng, 2000)
    index = PdqIndex.build(range(1000), rows[:1000])
    model = _model(list(range(1000)), rows[:1000])
    folds["n"] = 0  # the build's own fold
    index.defer_folds(1500)
    for start in range(1000, 2000, 100):  # ten pages, each past the usual capacity
        ids = list(range(start, start + 100))
        index.add_many(ids, rows[start : start + 100])
        model.update(_model(ids, rows[start : start + 100]))
    assert folds["n"] == 0
    assert len(index._delta) == 1000
    queries = _queries(rng, rows, 90)
    before = _check(index, model, queries, [0, 31])
    index.settle()
    assert folds["n"] == 1 and len(index._delta) == 0
    assert _check(index, model, queries, [0, 31]) == before
    index.add_many(list(range(2000, 2100)), random_hashes(rng, 100))  # usual capacity again
    assert folds["n"] == 2

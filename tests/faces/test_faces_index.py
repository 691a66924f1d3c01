"""The 1:N index: exact, best template per person, threshold respected."""

from __future__ import annotations

import numpy as np
import pytest

from jikimi.faces import FaceIndex
from jikimi.faces import index as index_module


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, 128)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_search_is_exact_against_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "CHUNK", 97)  # many chunks, a ragged last one
    rng = np.random.default_rng(7)
    by_person = {f"per_{i}": _unit(rng, int(rng.integers(1, 6))) for i in range(300)}
    index = FaceIndex.build(by_person)
    assert len(index) == sum(len(t) for t in by_person.values()) and index.persons == 300
    queries = _unit(rng, 40)
    queries[:10] = by_person["per_17"][0] * 0.9 + _unit(rng, 10) * 0.1
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    hits = index.search(queries, threshold=-1.0)
    for q, hit in zip(queries, hits, strict=True):
        best = {p: float((t @ q).max()) for p, t in by_person.items()}
        person = max(best, key=lambda p: best[p])
        assert hit.person == person
        assert hit.similarity == pytest.approx(best[person], abs=1e-4)
    assert all(h.person == "per_17" for h in hits[:10])


def test_below_threshold_is_nobody() -> None:
    rng = np.random.default_rng(1)
    templates = _unit(rng, 3)
    index = FaceIndex.build({"per_a": templates})
    [same, other] = index.search(np.stack([templates[1], -templates[0]]), threshold=0.5)
    assert same.person == "per_a" and same.similarity == pytest.approx(1.0, abs=1e-4)
    assert other.person is None and other.similarity < 0.5


def test_best_of_several_templates() -> None:
    rng = np.random.default_rng(2)
    a, b = _unit(rng, 5), _unit(rng, 5)
    index = FaceIndex.build({"per_a": a, "per_b": b})
    for i in range(5):
        [hit] = index.search(b[i : i + 1], threshold=0.9)
        assert hit.person == "per_b"


def test_empty_index_and_no_queries() -> None:
    empty = FaceIndex.build({"per_gone": np.zeros((0, 128), np.float32)})
    assert len(empty) == 0
    [hit] = empty.search(_unit(np.random.default_rng(3), 1), threshold=0.1)
    assert hit.person is None
    assert FaceIndex.empty().search(np.zeros((0, 128), np.float32), 0.5) == []


def test_two_stage_search_finds_planted_matches_and_reports_exact_similarities() -> None:
    """The approximate stage (forced on a 20,000-template index) keeps the true match
    of every query planted just above the threshold, and similarities are exact."""
    rng = np.random.default_rng(11)
    templates = _unit(rng, 20_000)
    owners = np.repeat(np.arange(4_000, dtype=np.int32), 5)
    persons = [f"per_{i}" for i in range(4_000)]
    index = FaceIndex(templates, owners, persons, approx_min=0)
    assert index.approximate and not FaceIndex(templates, owners, persons).approximate
    targets = rng.integers(0, len(templates), 60)
    noise = _unit(rng, 60)
    noise -= (noise * templates[targets]).sum(1, keepdims=True) * templates[targets]
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    cos = rng.uniform(0.5, 0.56, (60, 1)).astype(np.float32)
    queries = (cos * templates[targets] + np.sqrt(1 - cos**2) * noise).astype(np.float32)
    hits = index.search(queries, threshold=0.45)
    exact = index.search_exact(queries, threshold=0.45)
    assert [h.person for h in hits] == [persons[owners[t]] for t in targets]
    assert hits == exact
    strangers = _unit(rng, 20)
    for hit, truth in zip(
        index.search(strangers, 0.45), index.search_exact(strangers, 0.45), strict=True
    ):
        assert hit.person is None and hit.similarity <= truth.similarity + 1e-4

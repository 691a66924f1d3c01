"""1:N search of face templates: cosine similarity, best template per person.

Templates are unit vectors, so cosine similarity is a dot product. Two ways of
searching, chosen by the size of the tenant's index:

- **exact** (fewer than ``APPROX_MIN`` templates): every template takes part in
  every search, one BLAS matrix product ``queries (Q x 128) @ templates.T``
  in chunks, then one ``argmax`` per query.
- **two stages** (``APPROX_MIN`` templates or more): a FAISS product-quantised
  fast-scan index (``IndexPQFastScan``, 32 sub-vectors of 4 bits: 16 bytes a
  template, read from cache-resident lookup tables with SIMD) proposes the
  ``CANDIDATES`` templates of highest approximate similarity; those are then
  scored *exactly* against the float32 templates, and the best of them wins.
  Reading 16 bytes instead of 512 a template is what makes 500,000 templates
  searchable in a few milliseconds on one core (the exact product is bound by
  memory bandwidth: 256 MB a query). Every similarity reported is exact; the
  risk is only that the approximate stage leaves a true match out of its
  candidates. ``bench.faces`` measures that (``search_recall``: planted
  matches at 0.50 to 0.56, just above the threshold, found by the two stages
  as by the exact search); docs/faces.md has the numbers.

The best template of a person is the best of her several photos, and the best
person is the owner of the best template, so one ``argmax`` per query answers
both. Queries of a whole scan batch go together.

An index is immutable; :meth:`FaceIndex.build` makes a new one when persons
are enrolled or withdraw (see :mod:`jikimi.services.persons`). Building the
two-stage index trains the quantiser on a sample of at most ``TRAIN_SAMPLE``
templates (seconds at 500,000 templates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from jikimi.faces.engine import TEMPLATE_DIM, Templates

CHUNK: Final = 262_144
"""Templates per block of the exact product: bounds the Q x CHUNK float32 scratch
matrix (1 MiB per query face). Smaller blocks measured slower (more BLAS calls)."""

APPROX_MIN: Final = 32_768
"""From this many templates on, the two-stage search is used. Below it the exact
product reads at most 16 MB a query (a few milliseconds) and needs no training."""

CANDIDATES: Final = 2_048
"""Templates the approximate stage proposes per query face, all re-scored exactly.
Re-scoring them costs about as much as the fast scan itself; fewer measured a
lower recall of matches just above the threshold (docs/faces.md)."""

PQ_SUBVECTORS: Final = 32
"""Sub-vectors of the product quantiser (4 dimensions each, 4 bits: 16 bytes a
template). 64 measured no better recall at three times the scan cost."""

QUERY_CHUNK: Final = 16
"""Query faces re-scored together: bounds the gathered candidates to 16 MiB."""

TRAIN_SAMPLE: Final = 65_536
"""Templates the quantiser is trained on (a seeded sample; more measured no better)."""


@dataclass(frozen=True, slots=True)
class FaceHit:
    """The best enrolled person for one query face (``person`` None: nobody reached
    the threshold; ``similarity`` is still the best seen, for the record)."""

    person: str | None
    similarity: float


class FaceIndex:
    """1:N search over one tenant's enrolled templates (see the module docstring)."""

    __slots__ = ("_coarse", "_owners", "_persons", "_templates")

    def __init__(
        self,
        templates: Templates,
        owners: NDArray[np.int32],
        persons: Sequence[str],
        *,
        approx_min: int | None = None,
    ):
        if templates.ndim != 2 or templates.shape[1] != TEMPLATE_DIM:
            raise ValueError(f"templates must be N x {TEMPLATE_DIM}")
        if owners.shape != (templates.shape[0],):
            raise ValueError("one owner per template")
        # N x 128, C-contiguous: exact chunks are one GEMM against a transposed view,
        # and the candidates of the two-stage search are gathered by row
        self._templates = np.ascontiguousarray(templates, dtype=np.float32)
        self._owners = owners
        self._persons = tuple(persons)
        cutoff = APPROX_MIN if approx_min is None else approx_min
        self._coarse = _coarse_index(self._templates) if len(owners) >= cutoff else None

    @classmethod
    def build(
        cls, by_person: Mapping[str, Templates], *, approx_min: int | None = None
    ) -> FaceIndex:
        """An index of every person's templates (persons with none are left out)."""
        persons = [p for p, t in by_person.items() if len(t)]
        if not persons:
            return cls.empty()
        blocks = [by_person[p] for p in persons]
        owners = np.concatenate([np.full(len(b), i, dtype=np.int32) for i, b in enumerate(blocks)])
        templates = np.concatenate(blocks).astype(np.float32, copy=False)
        return cls(templates, owners, persons, approx_min=approx_min)

    @classmethod
    def empty(cls) -> FaceIndex:
        return cls(np.zeros((0, TEMPLATE_DIM), np.float32), np.zeros(0, np.int32), ())

    def __reduce__(
        self,
    ) -> tuple[type[FaceIndex], tuple[Templates, NDArray[np.int32], tuple[str, ...]]]:
        """Pickled as its templates (to a worker process, over a pipe); the approximate
        stage is built again on the other side (FAISS objects do not pickle)."""
        return (FaceIndex, (self._templates, self._owners, self._persons))

    def __len__(self) -> int:
        """Templates in the index."""
        return int(self._owners.shape[0])

    @property
    def persons(self) -> int:
        return len(self._persons)

    @property
    def approximate(self) -> bool:
        """Whether searches go through the two stages (large index)."""
        return self._coarse is not None

    def search(self, queries: Templates, threshold: float) -> list[FaceHit]:
        """The best person for each query row (unit-length)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, TEMPLATE_DIM)
        count = queries.shape[0]
        if count == 0:
            return []
        if len(self) == 0:
            return [FaceHit(None, 0.0) for _ in range(count)]
        if self._coarse is not None:
            best, where = self._two_stage(queries)
        else:
            best, where = self._exact(queries)
        hits = []
        for similarity, at in zip(best.tolist(), where.tolist(), strict=True):
            person = self._persons[self._owners[at]] if similarity >= threshold else None
            hits.append(FaceHit(person, round(float(similarity), 4)))
        return hits

    def search_exact(self, queries: Templates, threshold: float) -> list[FaceHit]:
        """Like :meth:`search`, always exact (to measure the two stages against)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, TEMPLATE_DIM)
        if queries.shape[0] == 0 or len(self) == 0:
            return self.search(queries, threshold)
        best, where = self._exact(queries)
        return [
            FaceHit(self._persons[self._owners[at]] if s >= threshold else None, round(float(s), 4))
            for s, at in zip(best.tolist(), where.tolist(), strict=True)
        ]

    def _exact(self, queries: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        count = queries.shape[0]
        best = np.full(count, -np.inf, np.float32)
        where = np.zeros(count, np.int64)
        rows = np.arange(count)
        for start in range(0, len(self), CHUNK):
            block = queries @ self._templates[start : start + CHUNK].T
            top = np.argmax(block, axis=1)
            value = block[rows, top]
            better = value > best
            best[better] = value[better]
            where[better] = top[better] + start
        return best, where

    def _two_stage(
        self, queries: NDArray[np.float32]
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        assert self._coarse is not None
        k = min(CANDIDATES, len(self))
        best = np.empty(queries.shape[0], np.float32)
        where = np.empty(queries.shape[0], np.int64)
        for start in range(0, queries.shape[0], QUERY_CHUNK):
            block = queries[start : start + QUERY_CHUNK]
            _, ids = self._coarse.search(block, k)
            ids = np.where(ids < 0, 0, ids)  # fewer candidates than asked: a real row
            # exact similarities of the candidates: (q x k x 128) . (q x 128)
            exact = np.einsum("qkd,qd->qk", self._templates[ids], block)
            top = np.argmax(exact, axis=1)
            rows = np.arange(block.shape[0])
            best[start : start + len(block)] = exact[rows, top]
            where[start : start + len(block)] = ids[rows, top]
        return best, where


def _coarse_index(templates: NDArray[np.float32]) -> Any:
    """The approximate first stage: a trained FAISS PQ fast-scan index of all rows."""
    import faiss  # imported only for large indexes: most tenants never need it

    index = faiss.IndexPQFastScan(TEMPLATE_DIM, PQ_SUBVECTORS, 4, faiss.METRIC_INNER_PRODUCT)
    if len(templates) > TRAIN_SAMPLE:
        rng = np.random.default_rng(0)
        sample = templates[np.sort(rng.choice(len(templates), TRAIN_SAMPLE, replace=False))]
    else:
        sample = templates
    index.train(np.ascontiguousarray(sample))
    index.add(templates)
    return index

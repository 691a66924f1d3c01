"""1:N search of face templates: exact cosine similarity, best template per person.

Every enrolled template takes part in every search (no approximate index that
could miss her): templates are unit vectors, so cosine similarity is a dot
product, and a search is one matrix product through BLAS::

    queries (Q x 128) @ templates.T (128 x N)  ─► Q x N similarities, in chunks
        ─► per query: the best template ─► its person, if ≥ threshold

The best template of a person is the best of her several photos, and the best
person is the owner of the best template, so one ``argmax`` per query answers
both. Queries of a whole scan batch go together: the product reads the
templates once for all of them, which is what makes large indexes affordable
(numbers in docs/faces.md: memory bandwidth, not arithmetic, sets the cost).

An index is immutable; :meth:`FaceIndex.build` makes a new one when persons
are enrolled or withdraw (see :mod:`jikimi.services.persons`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from jikimi.faces.engine import TEMPLATE_DIM, Templates

CHUNK: Final = 262_144
"""Templates per block of the product: bounds the Q x CHUNK float32 scratch matrix
(1 MiB per query face). Smaller blocks measured slower (more BLAS calls)."""


@dataclass(frozen=True, slots=True)
class FaceHit:
    """The best enrolled person for one query face (``person`` None: nobody reached
    the threshold; ``similarity`` is still the best seen, for the record)."""

    person: str | None
    similarity: float


class FaceIndex:
    """Exact 1:N search over one tenant's enrolled templates."""

    __slots__ = ("_owners", "_persons", "_templates_t")

    def __init__(self, templates: Templates, owners: NDArray[np.int32], persons: Sequence[str]):
        if templates.ndim != 2 or templates.shape[1] != TEMPLATE_DIM:
            raise ValueError(f"templates must be N x {TEMPLATE_DIM}")
        if owners.shape != (templates.shape[0],):
            raise ValueError("one owner per template")
        # 128 x N, C-contiguous: queries @ this is one GEMM that streams the columns
        self._templates_t = np.ascontiguousarray(templates.T, dtype=np.float32)
        self._owners = owners
        self._persons = tuple(persons)

    @classmethod
    def build(cls, by_person: Mapping[str, Templates]) -> FaceIndex:
        """An index of every person's templates (persons with none are left out)."""
        persons = [p for p, t in by_person.items() if len(t)]
        if not persons:
            return cls.empty()
        blocks = [by_person[p] for p in persons]
        owners = np.concatenate([np.full(len(b), i, dtype=np.int32) for i, b in enumerate(blocks)])
        return cls(np.concatenate(blocks).astype(np.float32, copy=False), owners, persons)

    @classmethod
    def empty(cls) -> FaceIndex:
        return cls(np.zeros((0, TEMPLATE_DIM), np.float32), np.zeros(0, np.int32), ())

    def __len__(self) -> int:
        """Templates in the index."""
        return int(self._owners.shape[0])

    @property
    def persons(self) -> int:
        return len(self._persons)

    def search(self, queries: Templates, threshold: float) -> list[FaceHit]:
        """The best person for each query row (unit-length), exact."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, TEMPLATE_DIM)
        count = queries.shape[0]
        if count == 0:
            return []
        if len(self) == 0:
            return [FaceHit(None, 0.0) for _ in range(count)]
        best = np.full(count, -np.inf, np.float32)
        where = np.zeros(count, np.int64)
        rows = np.arange(count)
        total = len(self)
        for start in range(0, total, CHUNK):
            block = queries @ self._templates_t[:, start : start + CHUNK]
            top = np.argmax(block, axis=1)
            value = block[rows, top]
            better = value > best
            best[better] = value[better]
            where[better] = top[better] + start
        hits = []
        for similarity, at in zip(best.tolist(), where.tolist(), strict=True):
            person = self._persons[self._owners[at]] if similarity >= threshold else None
            hits.append(FaceHit(person, round(float(similarity), 4)))
        return hits

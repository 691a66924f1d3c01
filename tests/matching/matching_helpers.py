"""Helpers for the matching tests: random PDQ-like hashes and a brute-force reference.

A plain module (not conftest) so tests import it explicitly."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def random_hashes(rng: np.random.Generator, n: int) -> NDArray[np.uint8]:
    return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


def flip(rng: np.random.Generator, row: NDArray[np.uint8], bits: int) -> NDArray[np.uint8]:
    """A copy of ``row`` with exactly ``bits`` distinct bits flipped."""
    out = row.copy()
    for bit in rng.choice(256, size=bits, replace=False):
        out[bit // 8] ^= np.uint8(1 << (bit % 8))
    return out


def clustered_hashes(rng: np.random.Generator, centres: int, per_centre: int) -> NDArray[np.uint8]:
    """Near-duplicate families: each centre with variants 0..40 bits away."""
    rows = []
    for centre in random_hashes(rng, centres):
        rows.append(centre)
        rows.extend(flip(rng, centre, int(rng.integers(0, 41))) for _ in range(per_centre))
    return np.array(rows, dtype=np.uint8)


def distance(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> int:
    return int(np.unpackbits(a ^ b).sum())


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def distance_matrix(rows: NDArray[np.uint8], queries: NDArray[np.uint8]) -> NDArray[np.int64]:
    """(queries, rows) Hamming distances by a byte popcount table (independent of the index)."""
    return _POPCOUNT[queries[:, None, :] ^ rows[None, :, :]].sum(axis=2)


def brute_force_many(
    model: dict[int, NDArray[np.uint8]], queries: NDArray[np.uint8], thresholds: list[int]
) -> dict[int, list[list[tuple[int, int]]]]:
    """Per threshold, per query: (id, distance) of every entry within it, nearest first."""
    ids = np.array(list(model), dtype=np.int64)
    rows = np.array(list(model.values()), dtype=np.uint8).reshape(-1, 32)
    dist = distance_matrix(rows, queries)
    out: dict[int, list[list[tuple[int, int]]]] = {}
    for t in thresholds:
        out[t] = []
        for row in dist:
            near = np.flatnonzero(row <= t)
            out[t].append(sorted(zip(row[near].tolist(), ids[near].tolist(), strict=True)))
        out[t] = [[(entry, d) for d, entry in hits] for hits in out[t]]
    return out


def brute_force(
    model: dict[int, NDArray[np.uint8]], query: NDArray[np.uint8], threshold: int
) -> list[tuple[int, int]]:
    """(id, distance) of every model entry within ``threshold``, nearest first."""
    return brute_force_many(model, query[None, :], [threshold])[threshold][0]


def hexes(rows: NDArray[np.uint8]) -> list[str]:
    return [row.tobytes().hex() for row in rows]

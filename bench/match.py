"""Benchmark the PDQ index against threatexchange's (what HMA uses), at 1 M and 10 M hashes.

``python -m bench.match [--quick] [--peer-max N] [--queries N]``

Ours: :class:`jikimi.matching.PdqIndex` (exact multi-index hashing, NumPy).
Peer: ``threatexchange``'s ``PdqSignal.get_index_cls()`` = ``PDQIndex``, a FAISS
``IndexBinaryMultiHash`` (16 tables of 16 bits) behind ``IndexBinaryIDMap2``, used
through its public API (``build`` then ``query(hex)``, threshold 31).

Data: uniformly random 256-bit hashes (seeded), ids ``1000 + 2*i``; both indexes
are built from the same list of hex strings (as the database holds them), so
``build_s`` includes parsing. Queries: half near-duplicates of indexed hashes
(0-31 random bits flipped), half unrelated random hashes. Ground truth: brute
force over every indexed hash.

Both indexes live in this one process and take turns, 25 queries at a time, so
they share the machine's noise (it is shared with other work) while each runs
back to back as a dedicated matcher would. Queries are single hex strings, one
at a time, single-threaded (``OMP_NUM_THREADS=1``, ``faiss.omp_set_num_threads(1)``;
our NumPy path uses no thread pool). ``ours_ms`` / ``peer_ms`` are wall-clock
medians, ``p99_ms`` ours; ``ours_cpu_ms`` / ``peer_cpu_ms`` / ``cpu_speedup`` the
same in thread CPU time, which waiting for a core does not inflate
(``load_avg_1m`` and ``cores`` say how busy the machine was).
``ours_cold_ms`` / ``peer_cold_ms``: the same queries alternating one by one, so
each starts with caches full of the other index's data (a process that decodes
images between lookups sees something like this).

``bytes_per_hash`` is our arrays' ``nbytes`` / n; ``rss_bytes_per_hash`` (and
the peer's) the growth of the process's resident set over the build (after a
``malloc_trim``), / n. ``recall``: the fraction of ground-truth (query, entry)
pairs returned; ``exact``: ours returned exactly the ground truth, no extras.

The peer needs about 930 bytes per hash at its peak (9.3 GB at 10 M), over this
benchmark's 8 GiB budget, so by default it is measured at 1 M only (``peer_n``
in the JSON; the 10 M line compares our 10 M index with the 1 M peer);
``--peer-max 0`` measures it at every size. Its query time grows with n
(candidates per bucket), so a 1 M peer understates our 10 M speedup.

Last line: one JSON object for the largest size (``name="match"``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import emit, parse_args

SEED = 20240611
THRESHOLD = 31
PEER_DEFAULT_MAX_N = 1_000_000
BLOCK = 25  # queries per side per turn when timing
SINGLE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def dataset(n: int, queries: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hashes (n, 32) uint8, ids, queries (q, 32) uint8), the same in every process."""
    rng = np.random.default_rng(SEED)
    hashes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    ids = 1000 + 2 * np.arange(n, dtype=np.int64)
    near = hashes[rng.integers(0, n, size=queries // 2)].copy()
    for row in near:
        for bit in rng.choice(256, size=int(rng.integers(0, THRESHOLD + 1)), replace=False):
            row[bit // 8] ^= np.uint8(1 << (bit % 8))
    unrelated = rng.integers(0, 256, size=(queries - len(near), 32), dtype=np.uint8)
    return hashes, ids, np.concatenate([near, unrelated])


def ground_truth(hashes: np.ndarray, ids: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    """Entry ids within the threshold of each query, by brute force."""
    words = hashes.view(np.uint64).reshape(-1, 4)
    qwords = queries.view(np.uint64).reshape(-1, 4)
    truth: list[set[int]] = [set() for _ in qwords]
    for start in range(0, len(words), 1 << 20):
        chunk = words[start : start + (1 << 20)]
        for i, q in enumerate(qwords):
            counts = np.bitwise_count(chunk ^ q)
            dist = counts.sum(axis=1, dtype=np.int64)
            truth[i].update(ids[start + np.flatnonzero(dist <= THRESHOLD)].tolist())
    return truth


@lru_cache(maxsize=1)
def prepared(n: int, queries: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[set[int]]]:
    """The dataset and its ground truth, shared by both sides when their n is the same."""
    hashes, ids, qs = dataset(n, queries)
    return hashes, ids, qs, ground_truth(hashes, ids, qs)


def _rss() -> int:
    """Resident bytes now, after handing freed heap pages back to the OS (glibc)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with Path("/proc/self/statm").open() as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Side:
    """One index under test: how to query it, its inputs and what building it cost."""

    query: Callable[[str], list[int]]
    hexes: list[str]
    truth: list[set[int]]
    build_s: float
    rss_delta: int
    n: int
    nbytes: int = 0


def build_ours(n: int, queries: int) -> Side:
    from jikimi.matching import PdqIndex

    hashes, ids, qs, truth = prepared(n, queries)
    before = _rss()
    stored = [row.tobytes().hex() for row in hashes]  # as the database holds them
    t0 = time.perf_counter()
    index = PdqIndex.build(ids, stored)
    build_s = time.perf_counter() - t0
    del stored  # what the index kept of it stays counted
    rss_delta = _rss() - before
    del hashes, ids

    def query(text: str) -> list[int]:
        return sorted(hit.entry_id for hit in index.query(text, THRESHOLD))

    hexes = [row.tobytes().hex() for row in qs]
    return Side(query, hexes, truth, build_s, rss_delta, n, index.nbytes)


def build_peer(n: int, queries: int) -> Side:
    import faiss
    from threatexchange.signal_type.pdq.signal import PdqSignal

    faiss.omp_set_num_threads(1)
    hashes, ids, qs, truth = prepared(n, queries)
    before = _rss()
    stored = [row.tobytes().hex() for row in hashes]  # as the database holds them
    t0 = time.perf_counter()
    index = PdqSignal.get_index_cls().build(zip(stored, ids.tolist(), strict=True))
    build_s = time.perf_counter() - t0
    del stored  # what the index kept of it stays counted
    rss_delta = _rss() - before
    del hashes, ids

    def query(text: str) -> list[int]:
        return sorted(int(match.metadata) for match in index.query(text))

    hexes = [row.tobytes().hex() for row in qs]
    return Side(query, hexes, truth, build_s, rss_delta, n)


@dataclass
class Timing:
    """Per-query wall and CPU milliseconds, and what each query returned."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    found: list[list[int]] = field(default_factory=list)


def timed(ours: Side, peer: Side, block: int) -> tuple[Timing, Timing]:
    """Query both in alternating blocks of ``block`` queries (same machine noise for both).

    ``block=1`` alternates every query, so each query starts with caches full of
    the other index's data; larger blocks query back to back, as a dedicated
    matching process would. CPU time (``time.thread_time``) is kept beside wall
    time: on a shared machine the wall clock also counts waiting for a core.
    """
    for i in range(min(20, len(ours.hexes))):  # warm caches and lazy set-up
        ours.query(ours.hexes[i])
        peer.query(peer.hexes[i])
    ours_t, peer_t = Timing(), Timing()
    for start in range(0, len(ours.hexes), block):
        for side, timing in ((ours, ours_t), (peer, peer_t)):
            for text in side.hexes[start : start + block]:
                c0, t0 = time.thread_time(), time.perf_counter()
                result = side.query(text)
                timing.wall.append((time.perf_counter() - t0) * 1000)
                timing.cpu.append((time.thread_time() - c0) * 1000)
                timing.found.append(result)
    return ours_t, peer_t


def recall(results: list[list[int]], truth: list[set[int]]) -> float:
    wanted = sum(len(t) for t in truth)
    found = sum(len(set(r) & t) for r, t in zip(results, truth, strict=True))
    return found / wanted if wanted else 1.0


def measure(ours: Side, peer: Side) -> dict[str, Any]:
    ours_t, peer_t = timed(ours, peer, BLOCK)
    ours_cold, peer_cold = timed(ours, peer, 1)
    ours_p50, peer_p50 = statistics.median(ours_t.wall), statistics.median(peer_t.wall)
    ours_cpu, peer_cpu = statistics.median(ours_t.cpu), statistics.median(peer_t.cpu)
    return {
        "name": "match",
        "n": ours.n,
        "ours_ms": round(ours_p50, 4),
        "peer_ms": round(peer_p50, 4),
        "speedup": round(peer_p50 / ours_p50, 2),
        "recall": recall(ours_t.found, ours.truth),
        "exact": ours_t.found == [sorted(t) for t in ours.truth],
        "bytes_per_hash": round(ours.nbytes / ours.n, 2),
        "build_s": round(ours.build_s, 2),
        "p99_ms": round(float(np.percentile(ours_t.wall, 99)), 4),
        "peer_n": peer.n,
        "peer_p99_ms": round(float(np.percentile(peer_t.wall, 99)), 4),
        "peer_recall": recall(peer_t.found, peer.truth),
        "ours_cpu_ms": round(ours_cpu, 4),
        "peer_cpu_ms": round(peer_cpu, 4),
        "cpu_speedup": round(peer_cpu / ours_cpu, 2),
        "cpu_p99_ms": round(float(np.percentile(ours_t.cpu, 99)), 4),
        "ours_cold_ms": round(statistics.median(ours_cold.wall), 4),
        "peer_cold_ms": round(statistics.median(peer_cold.wall), 4),
        "cold_exact": ours_cold.found == [sorted(t) for t in ours.truth],
        "peer_build_s": round(peer.build_s, 2),
        "rss_bytes_per_hash": round(ours.rss_delta / ours.n, 2),
        "peer_rss_bytes_per_hash": round(peer.rss_delta / peer.n, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "queries": len(ours.hexes),
        "matching_pairs": sum(len(t) for t in ours.truth),
        "threshold": THRESHOLD,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
    }


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--peer-max",
        type=int,
        default=PEER_DEFAULT_MAX_N,
        help="largest n to build the peer at (0 = every n; it needs ~9.3 GB at 10M)",
    )
    parser.add_argument("--queries", type=int, default=0, help="queries per size (0 = default)")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _extra)
    for name, value in SINGLE_THREAD.items():
        os.environ[name] = value  # before numpy/faiss start their thread pools
    sizes = [1_000_000] if args.quick else [1_000_000, 10_000_000]
    queries = args.queries or (100 if args.quick else 400)
    peers: dict[int, Side] = {}
    for n in sizes:
        peer_n = min(n, args.peer_max or n)
        if peer_n not in peers:
            peers.clear()  # at most one peer index in memory
            peers[peer_n] = build_peer(peer_n, queries)
        ours = build_ours(n, queries)
        emit(measure(ours, peers[peer_n]))
        del ours


if __name__ == "__main__":
    main()

"""Memory against speed of the exact PDQ index, by its number of tables (a design study).

``python -m bench.mih_tables [--quick] [--tables 11,10,9,8,7] [--queries N]``

Why this exists: the matching goal asks, at 10 M hashes, for recall 1.0, at
most 64 bytes per hash and a p50 of at most 0.5 ms. This script measures what
the multi-index (:mod:`jikimi.matching.mih`) gives at radius 31 as the table
count changes: fewer tables mean fewer postings (4 bytes each per hash) but
larger flip budgets per table, so many more probes per query. It shows that
no table count meets both the memory and the latency goal; see
``docs/matching.md`` for the arithmetic.

Data and queries as in ``bench.match``: uniformly random hashes (seeded); half
the queries near-duplicates of indexed hashes (0-31 bits flipped), half
random. Each search is checked against brute force on a sample (``exact``),
and ``flat_scan_p50_ms`` times that brute force: the layout that keeps only the
hashes (32 bytes each) and scans them all.
No peer runs here (this compares our own layouts; ``bench.match`` has the peer),
so ``peer_ms`` and ``speedup`` are null. Each line is one JSON object; the last
one is the summary (``name="mih_tables"``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from bench.common import emit, parse_args
from jikimi.matching.mih import WORDS, MihSegment, hamming

RADIUS = 31
CHECKED = 50  # queries compared with brute force per layout
FLAT_QUERIES = 10  # timed brute-force scans (the 32-bytes-a-hash layout)


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables", default="11,10,9,8,7", help="table counts to measure")
    parser.add_argument("--queries", type=int, default=1000, help="timed queries per layout")
    parser.add_argument("--n", type=int, default=0, help="hashes (10 M; --quick 1 M)")


def queries_for(words: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Half near-duplicates (0-31 random bits flipped), half random hashes."""
    out = rng.integers(0, 2**63, (count, WORDS), dtype=np.uint64)
    near = out[::2]
    near[:] = words[rng.integers(0, len(words), len(near))]
    for row in near:
        for bit in rng.choice(256, int(rng.integers(0, RADIUS + 1)), replace=False):
            row[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return out


def measure(tables: int, words: np.ndarray, ids: np.ndarray, queries: np.ndarray) -> dict:
    t0 = time.perf_counter()
    segment = MihSegment.build(tables, words, ids)
    build_s = time.perf_counter() - t0
    exact = True
    for query in queries[:CHECKED]:
        _, rows, _ = segment.search(query[None], RADIUS)
        truth = np.flatnonzero(hamming(words ^ query) <= RADIUS)
        exact &= np.array_equal(np.sort(rows), truth)
    times = []
    for query in queries:
        t = time.perf_counter()
        segment.search(query[None], RADIUS)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "tables": tables,
        "key_bits": segment.key_bits,
        "bytes_per_hash": round(segment.nbytes / len(ids), 1),
        "posting_bytes_per_hash": round(segment.postings.nbytes / len(ids), 1),
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[int(0.99 * (len(times) - 1))], 3),
        "exact": bool(exact),
        "build_s": round(build_s, 1),
    }


def main() -> None:
    args = parse_args(__doc__ or "", _extra)
    n = args.n or (1_000_000 if args.quick else 10_000_000)
    rng = np.random.default_rng(7)
    words = rng.integers(0, 2**63, (n, WORDS), dtype=np.uint64)
    ids = np.arange(n, dtype=np.int64)
    queries = queries_for(words, args.queries, rng)
    rows = []
    for tables in (int(t) for t in args.tables.split(",")):
        row = measure(tables, words, ids, queries)
        print(json.dumps(row), flush=True)
        rows.append(row)
    flat = []
    for query in queries[:FLAT_QUERIES]:
        t = time.perf_counter()
        np.flatnonzero(hamming(words ^ query) <= RADIUS)
        flat.append((time.perf_counter() - t) * 1000)
    fast = [r for r in rows if r["p50_ms"] <= 0.5]
    small = [r for r in rows if r["bytes_per_hash"] <= 64]
    emit(
        {
            "name": "mih_tables",
            "ours_ms": min(r["p50_ms"] for r in rows),
            "peer_ms": None,
            "speedup": None,
            "n": n,
            "radius": RADIUS,
            "layouts": rows,
            # The memory-lean alternative: the hashes alone (32 bytes each), scanned.
            "flat_scan_p50_ms": round(statistics.median(flat), 1),
            "smallest_within_0_5_ms": min((r["bytes_per_hash"] for r in fast), default=None),
            "fastest_within_64_bytes": min((r["p50_ms"] for r in small), default=None),
        }
    )


if __name__ == "__main__":
    main()

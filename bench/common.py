"""Shared helpers for the benchmark scripts (timing, argument parsing, output)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE = Path(__file__).resolve().parent / ".cache"
"""Generated inputs (large photos, hash sets) are kept here between runs."""

SHARED = Path(__file__).resolve().parents[2] / "shared" / "conformance"
"""Meta's ThreatExchange conformance data, beside the repository."""


def parse_args(
    description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="finish in under 60 seconds")
    parser.add_argument("--repeat", type=int, default=0, help="timed rounds (0 = default)")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def best_of(fn: Callable[[], Any], rounds: int) -> float:
    """Median wall time of ``fn`` over ``rounds`` runs, in milliseconds.

    Median rather than minimum: the machine is shared, and peers and ours are
    interleaved round by round (see :func:`interleaved`) so both see the same noise.
    """
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def interleaved(
    ours: Callable[[], Any], peer: Callable[[], Any], rounds: int
) -> tuple[float, float]:
    """Time two functions alternately; return (ours_ms, peer_ms) medians."""
    o: list[float] = []
    p: list[float] = []
    for _ in range(rounds):
        for fn, acc in ((ours, o), (peer, p)):
            t0 = time.perf_counter()
            fn()
            acc.append((time.perf_counter() - t0) * 1000)
    return statistics.median(o), statistics.median(p)


def emit(result: dict[str, Any]) -> None:
    """Print the result as the last line: one JSON object."""
    if "ours_ms" in result and "peer_ms" in result and "speedup" not in result:
        result["speedup"] = round(result["peer_ms"] / result["ours_ms"], 3)
    print(json.dumps(result, sort_keys=False), flush=True)
    sys.stdout.flush()

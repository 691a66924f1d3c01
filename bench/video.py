"""Benchmark vPDQ video hashing against Meta's ``vpdq`` binding, at one hash a second.

``python -m bench.video [--repeat N]``   (last line: one JSON object)

Ours: read bytes -> ``jikimi.media.video.load_video`` -> ``jikimi.signals.vpdq.hash_video``
(MD5 and SHA-256 of the bytes included). Peer: ``vpdq.computeHash(path,
seconds_per_hash=1)``, the reference C++ (decodes with the system FFmpeg, hashes
frames on all cores). Both run in this process on the same files, interleaved
round by round, so they share the machine's noise.
The peer is installed on first use by ``bench/setup_vpdq.sh`` (apt + pip).

Videos: the three ThreatExchange conformance videos (H.264, 480x720 and 1280x720,
4 to 19 s), with the reference's hash of every frame.

Reported: ``ours_ms`` / ``peer_ms``: the median over rounds of the wall time to hash
all three; ``speedup`` = peer / ours; ``*_cpu_ms`` and ``cpu_speedup``: the same in
CPU time of the process (all threads), steadier on a shared machine;
``frames_hashed_*``: frames hashed by each (``same_frames``: the same frame numbers);
``max_bits_to_reference``: our worst distance to the reference file over hashed
frames the reference rates of quality >= 50 (PDQ's "low quality" line; Meta's own
regression test skips lower ones); ``max_bits_to_reference_low_quality``: the same
over the other frames (nearly flat pictures, whose bits are noise); ``peer_*``: the
same two for the peer built on this machine, for comparison.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import SHARED, emit, parse_args
from jikimi.media.video import VideoLimits, load_video
from jikimi.signals import hamming_hex
from jikimi.signals.vpdq import FrameHash, hash_video, parse_vpdq

VIDEOS = SHARED / "vpdq"
SETUP = Path(__file__).resolve().parent / "setup_vpdq.sh"
LOW_QUALITY = 50
ROUNDS = {True: 1, False: 1}  # quick, full: one run, as asked; --repeat for more


def _peer() -> Any:
    """The ``vpdq`` module, installed by ``setup_vpdq.sh`` if it is missing."""
    try:
        import vpdq
    except ImportError:
        print(f"vpdq is missing: running {SETUP}", flush=True)
        subprocess.run(["bash", str(SETUP), sys.executable], check=True)
        import vpdq
    return vpdq


def _ours(paths: list[Path]) -> dict[str, list[tuple[int, int, str]]]:
    limits = VideoLimits()
    out = {}
    for path in paths:
        video = load_video(path.read_bytes(), limits)
        out[path.name] = [(h.frame, h.quality, h.pdq) for h in hash_video(video).frames]
    return out


def _theirs(vpdq: Any, paths: list[Path]) -> dict[str, list[tuple[int, int, str]]]:
    out = {}
    for path in paths:
        features = vpdq.computeHash(str(path), seconds_per_hash=1.0)
        out[path.name] = [(f.frame_number, f.quality, f.hex) for f in features]
    return out


def _worst(
    hashes: dict[str, list[tuple[int, int, str]]], reference: dict[str, dict[int, FrameHash]]
) -> tuple[int, int]:
    """Worst distance to the reference: (quality >= 50 frames, lower-quality frames)."""
    good, low = 0, 0
    for name, rows in hashes.items():
        for frame, _quality, pdq in rows:
            ref = reference[name][frame]
            bits = hamming_hex(pdq, ref.pdq)
            if ref.quality >= LOW_QUALITY:
                good = max(good, bits)
            else:
                low = max(low, bits)
    return good, low


def _cpu_s() -> float:
    """CPU time of this process, every thread included (both sides use threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(
    ours: Callable[[], object], peer: Callable[[], object], rounds: int
) -> tuple[float, float, float, float]:
    """Interleaved rounds; medians of (ours wall, peer wall, ours CPU, peer CPU) in ms.

    CPU time is reported too because the machine is shared: wall time moves with
    other people's load, CPU time much less.
    """
    samples: list[list[float]] = [[], [], [], []]
    for _ in range(rounds):
        for index, fn in enumerate((ours, peer)):
            cpu, wall = _cpu_s(), time.perf_counter()
            fn()
            samples[index].append((time.perf_counter() - wall) * 1000)
            samples[index + 2].append((_cpu_s() - cpu) * 1000)
    ours_ms, peer_ms, ours_cpu, peer_cpu = (statistics.median(s) for s in samples)
    return ours_ms, peer_ms, ours_cpu, peer_cpu


def main() -> None:
    args: argparse.Namespace = parse_args(__doc__ or "")
    vpdq = _peer()
    paths = sorted(VIDEOS.glob("*.mp4"))
    if not paths:
        sys.exit(f"no conformance videos in {VIDEOS}")
    reference = {
        p.name: {h.frame: h for h in parse_vpdq(p.with_suffix(".vpdq.txt").read_text())}
        for p in paths
    }
    ours, theirs = _ours(paths), _theirs(vpdq, paths)  # warm-up, and the results
    for name in ours:
        mine = [row[0] for row in ours[name]]
        peer = [row[0] for row in theirs[name]]
        status = "same frames" if mine == peer else f"DIFFERENT frames: {mine} vs {peer}"
        print(f"{name}: {len(mine)} frames hashed, {status}")
    rounds = args.repeat or ROUNDS[args.quick]
    ours_ms, peer_ms, ours_cpu, peer_cpu = _timed(
        lambda: _ours(paths), lambda: _theirs(vpdq, paths), rounds
    )
    good, low = _worst(ours, reference)
    peer_good, peer_low = _worst(theirs, reference)
    print(
        f"ours {ours_ms:.0f} ms ({ours_cpu:.0f} ms CPU), vpdq {peer_ms:.0f} ms "
        f"({peer_cpu:.0f} ms CPU) over {len(paths)} videos, {rounds} round(s)"
    )
    emit(
        {
            "name": "video",
            "ours_ms": round(ours_ms, 1),
            "peer_ms": round(peer_ms, 1),
            "speedup": round(peer_ms / ours_ms, 3),
            "max_bits_to_reference": good,
            "frames_hashed_ours": sum(len(v) for v in ours.values()),
            "frames_hashed_peer": sum(len(v) for v in theirs.values()),
            "same_frames": all([r[0] for r in ours[n]] == [r[0] for r in theirs[n]] for n in ours),
            "max_bits_to_reference_low_quality": low,
            "peer_max_bits_to_reference": peer_good,
            "peer_max_bits_to_reference_low_quality": peer_low,
            "ours_cpu_ms": round(ours_cpu, 1),
            "peer_cpu_ms": round(peer_cpu, 1),
            "cpu_speedup": round(peer_cpu / ours_cpu, 3),
            "rounds": rounds,
        }
    )


if __name__ == "__main__":
    main()

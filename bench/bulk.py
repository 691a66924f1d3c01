"""Bulk scans: the local process pool against Ray on a one-box cluster, same files, one run.

The files (2,000 by default, 200 with ``--quick``; the JSON says which) are
composed from the package's sample images and the benign corpus with transforms
a platform's archive holds: scaled, cropped, rotated, mirrored, recompressed as
JPEG at several qualities, or re-encoded as PNG. They are written once to
``bench/.cache``.

Peers: ``jikimi.scale.local.scan_files`` with 2 worker processes (the models
load once per worker) and ``python -m jikimi.scale.ray_job`` against a Ray head
with 2 CPUs, head and driver in a loopback-only network namespace (Ray probes
cloud-metadata addresses on start-up; nothing of it may leave the box). Each
rate counts its own model loading (Ray's: from the driver connected to the last
Verdict written, so the actors' start-up and model loading are in it); Ray's
cluster start-up and driver connection are reported apart (``ray_startup_s``),
as a long backfill pays them once, and are in neither rate. Ray's workers run at
the bench's own ``nice`` like the pool's (Ray's default is 15: on a machine
shared with other work that would measure the neighbours, not Ray;
``ray_worker_niceness`` in the JSON).

Last line: ``ray_vs_pool`` (Ray's files per second over the pool's; the goal on
one 2-core box is >= 0.8) and ``same_verdicts`` (every file's Verdict equal, ids
aside).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from bench.common import CACHE, emit, parse_args
from jikimi.config import load_settings
from jikimi.scale.local import scan_files
from jikimi.scale.loopback import LoopbackCluster
from jikimi.scale.ray_scan import iter_verdict_lines, source_key

SAMPLES = Path(str(resources.files("jikimi.data").joinpath("samples")))
BENIGN = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "benign" / "images"
SRC = Path(__file__).resolve().parents[1] / "src"
WORKERS = 2


def _sources() -> list[Path]:
    found = sorted(p for p in SAMPLES.iterdir() if p.suffix in {".jpg", ".png"})
    if BENIGN.is_dir():
        found += sorted(p for p in BENIGN.iterdir() if p.suffix.lower() in {".jpg", ".png"})
    return found


def _compose(n: int) -> list[Path]:
    """``n`` mixed images (cached): each a source image through one random transform."""
    folder = CACHE / f"bulk-{n}"
    done = folder / ".complete"
    if done.exists():
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261202)
    sources = _sources()
    out = []
    for i in range(n):
        src = sources[i % len(sources)] if i < len(sources) else rng.choice(sources)
        with Image.open(src) as im:
            img = ImageOps.exif_transpose(im).convert("RGB")
        op = rng.choice(["scale", "crop", "rotate", "mirror", "jpeg", "png", "asis"])
        if op == "scale":
            f = rng.uniform(0.3, 1.0)
            img = img.resize((max(16, int(img.width * f)), max(16, int(img.height * f))))
        elif op == "crop":
            dx, dy = int(img.width * rng.uniform(0, 0.2)), int(img.height * rng.uniform(0, 0.2))
            img = img.crop((dx, dy, img.width - dx, img.height - dy))
        elif op == "rotate":
            img = img.rotate(rng.choice([90, 180, 270]), expand=True)
        elif op == "mirror":
            img = ImageOps.mirror(img)
        if max(img.size) > 1600:
            img.thumbnail((1600, 1600))
        path = folder / f"img-{i:05d}.{'png' if op == 'png' else 'jpg'}"
        if op == "png":
            img.save(path, "PNG")
        else:
            img.save(path, "JPEG", quality=rng.choice([60, 75, 85, 95]))
        out.append(path)
    done.touch()
    return out


def _pool(paths: list[Path]) -> tuple[float, dict[str, dict[str, Any]]]:
    settings = load_settings()
    t0 = time.perf_counter()
    verdicts = list(scan_files(paths, settings, workers=WORKERS))
    seconds = time.perf_counter() - t0
    return seconds, {source_key(v.source): v.to_json_dict() for v in verdicts}


def _ray(
    paths: list[Path], extra: tuple[str, ...] = ()
) -> tuple[float, float, float, dict[str, dict[str, Any]]]:
    pythonpath = os.pathsep.join(
        p for p in (str(SRC), str(SRC.parent), os.environ.get("PYTHONPATH", "")) if p
    )
    with tempfile.TemporaryDirectory(prefix="jikimi-bulk-") as tmp:
        listing = Path(tmp) / "files.txt"
        listing.write_bytes(b"\0".join(os.fsencode(p) for p in paths))
        out = Path(tmp) / "out"
        with LoopbackCluster(
            cpus=WORKERS, extra_env={"PYTHONPATH": pythonpath}, worker_niceness=os.nice(0)
        ) as cluster:
            argv = [
                sys.executable, "-m", "jikimi.scale.ray_job", "--address", cluster.address,
                "--out", str(out), "--files-from", str(listing), *extra,
            ]  # fmt: skip
            run = subprocess.run(
                cluster.command(argv),
                env=cluster.env,
                capture_output=True,
                text=True,
                timeout=3600,
                check=False,
            )
            if run.returncode != 0:
                sys.exit(f"the Ray driver failed:\n{run.stderr[-4000:]}")
            stats = json.loads(run.stdout.strip().splitlines()[-1])
            startup = cluster.startup_s + float(stats["startup_s"])
        verdicts = {source_key(v["source"]): v for v in iter_verdict_lines(out)}
    return float(stats["scan_s"]), startup, float(stats["first_verdicts_s"]), verdicts


def _rss_mb() -> float:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with Path("/proc/self/statm").open() as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _memory(hashes: int) -> dict[str, float]:
    """What one scanning actor holds: the Scanner with its models, then a bank snapshot
    of ``hashes`` PDQ hashes loaded from its files (as an actor loads it)."""
    from jikimi.matching.bank_snapshot import BankSnapshot
    from jikimi.pipeline import Scanner

    with tempfile.TemporaryDirectory(prefix="jikimi-bulk-snap-") as tmp:
        build = Path(tmp) / "snap"
        code = f"from bench.bulk import _write_snapshot; _write_snapshot({str(build)!r}, {hashes})"
        subprocess.run([sys.executable, "-c", code], check=True, timeout=3600)
        size = sum(p.stat().st_size for p in build.rglob("*") if p.is_file()) / 1e6
        base = _rss_mb()
        scanner = Scanner.from_settings(load_settings())
        scanner.warm_up()
        for sample in _sources()[:8]:  # every model a still image needs, loaded
            scanner.scan(sample.read_bytes(), {"path": str(sample)})
        with_models = _rss_mb()
        snapshot = BankSnapshot.load(build, "ten_bench")
        with_snapshot = _rss_mb()
        assert len(snapshot.banks) == 1
    return {
        "actor_models_rss_mb": round(with_models - base, 1),
        "snapshot_hashes": hashes,
        "snapshot_files_mb": round(size, 1),
        "snapshot_rss_mb": round(with_snapshot - with_models, 1),
    }


def _write_snapshot(directory: str, hashes: int) -> None:
    """A one-bank snapshot of random PDQ hashes with entry ids (run in a child process)."""
    from datetime import UTC, datetime

    import numpy as np

    from jikimi.domain import Bank, BankKind, SignalKind
    from jikimi.ids import new_id
    from jikimi.matching.bank_index import BankIndex
    from jikimi.matching.bank_snapshot import BankSnapshot, SnapshotBank

    bank = Bank(
        id="bnk_bench", tenant_id="ten_bench", name="BENCH", kind=BankKind.TAKEDOWN,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    index = BankIndex(bank)
    rng = np.random.default_rng(7)
    step = 200_000
    for start in range(0, hashes, step):
        rows = rng.integers(0, 256, size=(min(step, hashes - start), 32), dtype=np.uint8)
        seqs = list(range(start + 1, start + 1 + len(rows)))
        index.add(
            SignalKind.PDQ, seqs, [r.tobytes().hex() for r in rows], [new_id("ent") for _ in seqs]
        )
    BankSnapshot("ten_bench", [SnapshotBank(bank, "BENCH", index)]).save(Path(directory))


def _same(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> bool:
    if a.keys() != b.keys():
        return False
    return all({**a[k], "id": None} == {**b[k], "id": None} for k in a)


def main() -> None:
    args = parse_args(__doc__ or "")
    n = 200 if args.quick else 2000
    hashes = 500_000 if args.quick else 2_000_000
    memory = _memory(hashes)
    print(f"memory: {memory}", flush=True)
    paths = _compose(n)
    print(f"{len(paths)} images composed in {CACHE}", flush=True)
    pool_s, pool_verdicts = _pool(paths)
    print(f"pool ({WORKERS} workers): {pool_s:.1f} s", flush=True)
    ray_s, startup_s, first_s, ray_verdicts = _ray(paths)
    print(f"ray ({WORKERS} CPUs): {ray_s:.1f} s after {startup_s:.1f} s start-up", flush=True)
    pool_rate, ray_rate = len(paths) / pool_s, len(paths) / ray_s
    emit(
        {
            "name": "bulk",
            "files": len(paths),
            "quick": bool(args.quick),
            "cpus": WORKERS,
            "pool_files_per_s": round(pool_rate, 2),
            "ray_files_per_s": round(ray_rate, 2),
            "ray_vs_pool": round(ray_rate / pool_rate, 3),
            "same_verdicts": _same(pool_verdicts, ray_verdicts),
            "ray_startup_s": round(startup_s, 1),
            "ray_worker_niceness": os.nice(0),
            "ray_first_verdicts_s": round(first_s, 1),
            **memory,
            "snapshot_rss_mb_per_10m_hashes": round(memory["snapshot_rss_mb"] * 1e7 / hashes),
            "load_avg_1m": round(os.getloadavg()[0], 1),
        }
    )


if __name__ == "__main__":
    main()

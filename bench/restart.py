"""Readiness after a crash: ``/readyz`` seconds after ``kill -9`` during a large import.

The scenario of a bank that grows while the service runs::

    empty bank ─► jikimi serve ─► clean stop (snapshot of the empty bank)
               ─► jikimi serve again ─► import N rows (as ``jikimi bank import`` does)
               ─► the server applies them (checked through POST /v1/match)
               ─► kill -9 ─► jikimi serve ─► seconds until /readyz answers 200

Ours snapshots a bank once ``JIKIMI_MATCH_SNAPSHOT_AFTER_CHANGES`` (50,000)
changes reached it, so the restart loads a recent snapshot and replays at most
about that many changes. The peer is the old policy (snapshots every 300 s and on
a clean stop only; ``JIKIMI_MATCH_SNAPSHOT_AFTER_CHANGES=0``): its last snapshot
is the one from before the import (the crash comes within 300 s of it), so its
restart replays the whole import. Both restarts run on the same database, one
after the other; the peer's from a copy of the index directory as it was before
the import. ``readyz_s`` counts from starting the process (Python start-up and
imports included); the goal is 3 s at 2 M entries. ``load_s``/``load_cpu_s`` time
the index load alone in this process (from a copy of each index directory), which a
loaded machine distorts less.

    python -m bench.restart            # 2 M rows
    python -m bench.restart --quick    # 200 k rows
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.api import HOST, free_port, stop_server, wait_ready
from bench.common import CACHE, emit, parse_args
from bench.import_rows import make_csv
from jikimi.config import Settings
from jikimi.domain import BankCreate, BankKind, Role
from jikimi.services import BankService, KeyService, TenantService, read_rows
from jikimi.services.matching import MatchService
from jikimi.store import Store, migrate

BANK = "RESTART"
GOAL_S = 3.0


def start(data_dir: Path, port: int, log: Path, after_changes: int) -> subprocess.Popen[bytes]:
    jikimi = Path(sys.executable).parent / "jikimi"
    env = {
        **os.environ,
        "JIKIMI_DATA_DIR": str(data_dir),
        "JIKIMI_MATCH_SNAPSHOT_AFTER_CHANGES": str(after_changes),
    }
    command = [str(jikimi), "serve", "--host", HOST, "--port", str(port), "--workers", "1"]
    command += ["--log-level", "warning", "--no-access-log"]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def last_hash(csv_path: Path) -> str:
    """The last valid PDQ hash of the file (its last rows may be bad or repeated)."""
    with csv_path.open("rb") as f:
        f.seek(-2000, os.SEEK_END)
        lines = f.read().decode().strip().splitlines()[1:]
    for line in reversed(lines):
        value = line.split(",")[1]
        if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
            return value
    raise SystemExit(f"no valid hash at the end of {csv_path}")


def wait_applied(base: str, key: str, pdq: str, limit_s: float) -> float:
    """Seconds until the server matches ``pdq`` (every change before it is applied)."""
    t0 = time.perf_counter()
    body = {"hashes": [{"type": "pdq", "value": pdq}]}
    headers = {"Authorization": f"Bearer {key}"}
    while time.perf_counter() - t0 < limit_s:
        r = httpx.post(f"{base}/v1/match", json=body, headers=headers, timeout=30)
        if r.status_code == 200 and r.json()["results"][0]["matches"]:
            return time.perf_counter() - t0
        if r.status_code not in (200, 503):
            raise SystemExit(f"POST /v1/match answered {r.status_code}: {r.text[:500]}")
        time.sleep(0.2)
    raise SystemExit(f"the server did not apply the import within {limit_s} s")


def restart_s(data_dir: Path, port: int, log: Path, after_changes: int, limit_s: float) -> float:
    proc = start(data_dir, port, log, after_changes)
    try:
        return wait_ready(f"http://{HOST}:{port}", proc, log, limit_s)
    finally:
        stop_server(proc)


def load_s(data_dir: Path, index: Path) -> tuple[float, float]:
    """Wall and CPU seconds until the indexes from ``index`` and the database are
    loaded and ready, in this process (no start-up, no HTTP: the part the snapshot
    policy changes; CPU time is what a shared machine does not distort)."""
    work = data_dir.parent / "load-check"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(index, work / "index")
    settings = Settings(data_dir=work, database_url=f"sqlite:///{data_dir / 'jikimi.db'}")
    store = Store.from_settings(settings)
    service = MatchService(store, settings, read_only=True)
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        service.start()  # until ready: the fold of the replayed rows comes after
        if not service.wait_ready(600):
            raise SystemExit(f"the indexes did not load: {service.load_error}")
        return round(time.perf_counter() - t0, 2), round(time.process_time() - cpu0, 2)
    finally:
        service.close()
        store.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--rows", type=int, default=0, help="rows (default 2 M, --quick 200 k)")

    args = parse_args(__doc__ or "", extra)
    rows = args.rows or (200_000 if args.quick else 2_000_000)
    CACHE.mkdir(exist_ok=True)
    csv_path = CACHE / f"import_rows_{rows}.csv"
    if not csv_path.exists():
        make_csv(csv_path, rows)
    after = Settings().match_snapshot_after_changes
    limit = 600.0

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        log = Path(tmp) / "server.log"
        settings = Settings(data_dir=data_dir)
        migrate(settings)
        store = Store.from_settings(settings)
        _, admin = TenantService(store).create("bench")
        principal = KeyService(store).authenticate(admin.secret)
        platform = KeyService(store).issue(principal, Role.PLATFORM, "bench").secret
        banks = BankService(store, settings=settings)
        banks.create(principal, BankCreate(name=BANK, kind=BankKind.TAKEDOWN))

        port = free_port()
        base = f"http://{HOST}:{port}"
        restart_s(data_dir, port, log, after, limit)  # clean stop: the empty bank's snapshot
        before_import = Path(tmp) / "index-before-import"
        shutil.copytree(data_dir / "index", before_import)

        proc = start(data_dir, port, log, after)
        try:
            wait_ready(base, proc, log, limit)
            t0 = time.perf_counter()
            with csv_path.open("rb") as f:
                report = banks.import_rows(principal, BANK, read_rows(f))
            import_s = time.perf_counter() - t0
            applied_s = wait_applied(base, platform, last_hash(csv_path), limit)
        finally:
            proc.send_signal(signal.SIGKILL)  # the crash
            proc.wait()
        store.close()

        crashed = Path(tmp) / "index-after-crash"
        shutil.copytree(data_dir / "index", crashed)
        ours = restart_s(data_dir, port, log, after, limit)
        ours_load = load_s(data_dir, crashed)
        peer_load = load_s(data_dir, before_import)
        shutil.rmtree(data_dir / "index")
        shutil.copytree(before_import, data_dir / "index")
        peer = restart_s(data_dir, port, log, 0, limit)

    emit(
        {
            "name": "restart",
            "entries": report.added,
            "readyz_s": round(ours, 2),
            "peer_readyz_s": round(peer, 2),
            "ours_ms": round(ours * 1000, 1),
            "peer_ms": round(peer * 1000, 1),
            "peer": "old policy: snapshot every 300 s and on a clean stop only",
            "snapshot_after_changes": after,
            "load_s": ours_load[0],
            "load_cpu_s": ours_load[1],
            "peer_load_s": peer_load[0],
            "peer_load_cpu_s": peer_load[1],
            "import_s": round(import_s, 1),
            "applied_after_import_s": round(applied_s, 1),
            "goal": {"readyz_s": GOAL_S, "entries": 2_000_000},
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    )


if __name__ == "__main__":
    main()

"""kill -9 of a process holding the bank indexes loses no change, and its snapshots are recent.

A child process runs the matching service (snapshots after 50 changes); the test
changes the bank, waits for a snapshot, changes it again, kills the child with
SIGKILL, then loads the indexes again: every active entry matches, no withdrawn one
does, and the snapshot it started from was the one written after N changes (not
the state before them).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from service_helpers import Side

from jikimi.config import Settings
from jikimi.domain import BankCreate, BankKind, EntryStatus, Role, Signal, SignalKind
from jikimi.matching.snapshot import read_snapshot
from jikimi.services import BankService
from jikimi.services.matching import MatchService
from jikimi.store import Store
from jikimi.store import entries as entry_repo

CHILD = """
import sys, time
from jikimi.config import load_settings
from jikimi.services.matching import MatchService
from jikimi.store import Store
service = MatchService(Store.from_settings(load_settings()), load_settings())
service.start()
service.wait_ready(60)
print("ready", flush=True)
time.sleep(600)
"""


def _watermark(path: Path) -> int:
    try:
        return read_snapshot(path, "pdq").watermark
    except Exception:
        return -1


def test_kill_9_then_restart_loses_no_changes(store: Store, settings: Settings, acme: Side) -> None:
    admin = acme.as_[Role.ADMIN]
    banks = BankService(store, settings=settings)
    bank = banks.create(admin, BankCreate(name="CRASH", kind=BankKind.TAKEDOWN))
    env = {
        **os.environ,
        "JIKIMI_DATA_DIR": str(settings.data_dir),
        "JIKIMI_DATABASE_URL": settings.database_url or "",
        "JIKIMI_MATCH_SNAPSHOT_AFTER_CHANGES": "50",
        "JIKIMI_MATCH_POLL_S": "0.05",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        first = [secrets.token_hex(32) for _ in range(120)]
        rows = [{"signal_type": "pdq", "signal_value": h} for h in first]
        assert banks.import_rows(admin, "CRASH", rows).added == 120
        with store.session() as s, s.begin():
            mark = entry_repo.max_change_id(s)
        snap = Path(settings.data_dir) / "index" / bank.id / "pdq.snap"
        deadline = time.monotonic() + 60
        while _watermark(snap) < mark and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _watermark(snap) >= mark, "no snapshot after 120 changes"

        # Fewer changes than the snapshot threshold: only the change log has them.
        later = [secrets.token_hex(32) for _ in range(10)]
        rows = [{"signal_type": "pdq", "signal_value": h} for h in later]
        banks.import_rows(admin, "CRASH", rows)
        page = banks.list_entries(admin, "CRASH", limit=5)
        for entry in page.entries:
            banks.set_status(admin, "CRASH", entry.id, EntryStatus.WITHDRAWN)
        time.sleep(0.3)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        if child.stdout is not None:
            child.stdout.close()
    with store.session() as s, s.begin():
        final = entry_repo.max_change_id(s)
    assert mark <= _watermark(snap) < final  # the restart has changes to replay

    again = MatchService(store, settings)
    again.load()
    try:
        withdrawn = {e.value for e in page.entries}
        hashes = first + later
        found = again.match_hashes(admin, [Signal(type=SignalKind.PDQ, value=h) for h in hashes])
        assert [bool(r) for r in found] == [h not in withdrawn for h in hashes]
        assert again.entry_count() == len(hashes) - len(withdrawn)
    finally:
        again.close()

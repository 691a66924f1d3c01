"""``kill -9`` during ``jikimi bank import``, for real: the record says how far it got,
and ``--resume`` finishes it with exactly the entries and counts of one whole import.

The import runs in a child process (the installed CLI) on the test's database, SQLite
and PostgreSQL; the test watches the imports table from this process, kills the child
with SIGKILL once a few pages have been committed, and resumes in a second child.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from jikimi.config import Settings
from jikimi.domain import BankCreate, BankImport, BankKind, ImportState
from jikimi.services import BankService, KeyService, TenantService
from jikimi.services.banks import IMPORT_BATCH
from jikimi.store import Store

ROWS = 100_000
BAD_EVERY = 997
DUP_EVERY = 101
LEASE_S = 1.0
_CLI = "from jikimi.cli import main; main()"


def _write_csv(path: Path) -> tuple[int, int, int]:
    """The file, and the counts one whole import of it gives: (added, duplicates, errors)."""
    rng = random.Random(99)
    values: list[str] = []
    added = duplicates = errors = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("signal_type,signal_value,metadata\n")
        for i in range(1, ROWS + 1):
            if i % BAD_EVERY == 0:
                out.write(f"pdq,{'z' * 64},\n")
                errors += 1
            elif i % DUP_EVERY == 0:
                out.write(f"pdq,{values[rng.randrange(len(values))]},\n")
                duplicates += 1
            else:
                value = f"{rng.getrandbits(256):064x}"
                values.append(value)
                out.write(f'pdq,{value},"{{""row"": {i}}}"\n')
                added += 1
    return added, duplicates, errors


def _run(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", _CLI, *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _records(banks: BankService, key: str) -> list[BankImport]:
    return banks.list_imports(KeyService(banks.store).authenticate(key), "KCSC")


def test_kill_9_mid_import_then_resume(settings: Settings, tmp_path: Path) -> None:
    store = Store.from_settings(settings)
    try:
        _, issued = TenantService(store).create("acme")
        banks = BankService(store, settings=settings)
        admin = KeyService(store).authenticate(issued.secret)
        bank = banks.create(admin, BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))
        path = tmp_path / "hashes.csv"
        added, duplicates, errors = _write_csv(path)
        env = {
            **os.environ,
            "JIKIMI_DATA_DIR": str(settings.data_dir),
            "JIKIMI_DATABASE_URL": settings.database_url,
            "JIKIMI_API_KEY": issued.secret,
            "JIKIMI_IMPORT_LEASE_S": str(LEASE_S),
            "PYTHONPATH": os.pathsep.join(sys.path),
        }
        args = ("bank", "import", "KCSC", str(path), "--no-progress")

        started = time.monotonic()
        child = _run(env, *args, log=tmp_path / "first.log")
        deadline = time.monotonic() + 300
        while True:
            records = _records(banks, issued.secret)
            if records and records[0].rows >= IMPORT_BATCH:
                break
            log = (tmp_path / "first.log").read_text(errors="replace")
            assert child.poll() is None, f"the import ended before it could be killed: {log}"
            assert time.monotonic() < deadline, f"no page committed in time: {log}"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        print(f"killed after {time.monotonic() - started:.1f} s at row {records[0].rows}")
        assert child.wait(30) == -signal.SIGKILL

        time.sleep(LEASE_S * 1.5)  # the lease lapses: nobody renews it
        [dead] = _records(banks, issued.secret)
        assert dead.state is ImportState.INTERRUPTED
        assert IMPORT_BATCH <= dead.rows < ROWS
        assert dead.rows == dead.added + dead.duplicates + dead.error_count
        assert banks.get(admin, "KCSC").entry_count == dead.added  # committed with the record
        assert dead.finished_at is None and dead.runs == 1

        second = _run(env, *args, "--resume", log=tmp_path / "second.log")
        code = second.wait(600)
        print(f"resumed in {time.monotonic() - started:.1f} s")
        log = (tmp_path / "second.log").read_text(errors="replace")
        assert code == 1, log  # done, with rejected rows
        assert f"import {dead.id} resuming after row {dead.rows:,}" in log

        [done] = _records(banks, issued.secret)
        assert (done.id, done.state, done.runs) == (dead.id, ImportState.DONE, 2)
        assert (done.rows, done.added, done.duplicates, done.error_count) == (
            ROWS,
            added,
            duplicates,
            errors,
        )
        assert done.errors[0].line == BAD_EVERY + 1  # line 1 is the header
        assert banks.get(admin, "KCSC").entry_count == added
        page = banks.list_entries(admin, "KCSC", limit=1000)
        assert page.entries[0].metadata == {"row": 1}
        assert bank.id == done.bank_id
    finally:
        store.close()

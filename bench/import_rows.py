"""Bulk import speed: 1 M PDQ rows from a CSV file into a fresh bank (goal: < 60 s).

Measures what ``jikimi bank import BANK hashes.csv`` does: stream-parse the file,
check every row, insert in batches of 20,000 with their change-log rows. A few
malformed rows and duplicates are mixed in so the error path is timed too.
No peer library imports into a database, so there is no ``peer_ms`` here.

    python -m bench.import_rows                     # SQLite, 1 M rows
    python -m bench.import_rows --quick             # 100 k rows
    python -m bench.import_rows --listener          # as the server does (changes to a listener)
    python -m bench.import_rows --database-url postgresql+psycopg://postgres@127.0.0.1/postgres

With a PostgreSQL URL the import runs in a new scratch database on that server
(dropped afterwards), so that every run starts from the same empty tables.
``cpu_s`` is this process's CPU time (on PostgreSQL most of the rest is the
server's): the machine is shared, and wall time alone hides whose time it was.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import sqlalchemy as sa

from bench.common import CACHE, emit, parse_args
from jikimi.config import Settings
from jikimi.domain import BankCreate, BankKind, Change
from jikimi.services import BankService, KeyService, TenantService, read_rows
from jikimi.store import Store, migrate


def make_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A CSV in the HMA signal form; 1 row in 10,000 is bad, 1 in 1,000 a duplicate."""
    rng = random.Random(seed)
    previous = "0" * 64
    with path.open("w", encoding="utf-8") as f:
        f.write("signal_type,signal_value,metadata\n")
        for i in range(rows):
            if i % 10_000 == 9_999:
                f.write("pdq,not-a-hash,\n")
            elif i % 1_000 == 999:
                f.write(f"pdq,{previous},\n")
            elif i % 100 == 0:
                previous = f"{rng.getrandbits(256):064x}"
                f.write(f'pdq,{previous},"{{""case"": ""C-{i}""}}"\n')
            else:
                previous = f"{rng.getrandbits(256):064x}"
                f.write(f"pdq,{previous},\n")


@contextlib.contextmanager
def scratch_database(url: str | None) -> Iterator[str | None]:
    """A new empty database on the PostgreSQL server of ``url`` (dropped on exit).

    SQLite (``None``) needs nothing: the bench uses a file in a temporary directory.
    """
    if url is None or not url.startswith("postgresql"):
        yield url
        return
    name = f"jikimi_bench_{os.getpid()}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


class _Counter:
    """A BankListener that only counts (stands in for the matching service)."""

    def __init__(self) -> None:
        self.changes = 0

    def entries_changed(self, changes: Sequence[Change]) -> None:
        self.changes += len(changes)

    def banks_changed(self, bank_ids: Sequence[str]) -> None:
        pass


def main() -> None:
    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--rows", type=int, default=0, help="rows (default 1 M, --quick 100 k)")
        p.add_argument(
            "--database-url",
            default=None,
            help="a PostgreSQL server (a scratch database is made on it); default: SQLite",
        )
        p.add_argument(
            "--listener",
            action="store_true",
            help="as in the server: a listener receives every change (the CLI has none)",
        )

    args = parse_args(__doc__ or "", extra)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    CACHE.mkdir(exist_ok=True)
    csv_path = CACHE / f"import_rows_{rows}.csv"
    if not csv_path.exists():
        make_csv(csv_path, rows)

    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.database_url) as url:
        overrides = {"database_url": url} if url else {}
        settings = Settings(data_dir=Path(tmp), **overrides)
        migrate(settings)
        store = Store.from_settings(settings)
        tenant = f"bench{os.getpid()}"
        _, issued = TenantService(store).create(tenant)
        principal = KeyService(store).authenticate(issued.secret)
        listener = _Counter() if args.listener else None
        banks = BankService(store, listener=listener)
        banks.create(principal, BankCreate(name="BENCH", kind=BankKind.TAKEDOWN))

        t0, cpu0 = time.perf_counter(), time.process_time()
        with csv_path.open("rb") as f:
            report = banks.import_rows(principal, "BENCH", read_rows(f))
        seconds = time.perf_counter() - t0
        cpu_seconds = time.process_time() - cpu0
        db_bytes = sum(p.stat().st_size for p in Path(tmp).glob("jikimi.db*"))
        store.close()

    emit(
        {
            "name": "import_rows",
            "backend": store.dialect,
            "rows": report.rows,
            "added": report.added,
            "duplicates": report.duplicates,
            "errors": report.error_count,
            "seconds": round(seconds, 2),
            "cpu_s": round(cpu_seconds, 2),
            "rows_per_s": round(report.rows / seconds),
            "goal_seconds_per_1m": 60,
            "listener_changes": None if listener is None else listener.changes,
            "sqlite_bytes": db_bytes,
        }
    )


if __name__ == "__main__":
    main()

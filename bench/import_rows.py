"""Bulk import speed: 1 M PDQ rows from a CSV file into a fresh bank (goal: < 60 s).

Measures what ``jikimi bank import BANK hashes.csv`` does: stream-parse the file,
check every row, insert in batches of 20,000 with their change-log rows. A few
malformed rows and duplicates are mixed in so the error path is timed too.
No peer library imports into a database, so there is no ``peer_ms`` here.

    python -m bench.import_rows                     # SQLite, 1 M rows
    python -m bench.import_rows --quick             # 100 k rows
    python -m bench.import_rows --listener          # as the server does (changes to a listener)
    python -m bench.import_rows --database-url postgresql+psycopg://postgres@127.0.0.1/x
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import CACHE, emit, parse_args
from jikimi.config import Settings
from jikimi.domain import BankCreate, Change
from jikimi.model import BankKind
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
        p.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
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

    with tempfile.TemporaryDirectory() as tmp:
        overrides = {"database_url": args.database_url} if args.database_url else {}
        settings = Settings(data_dir=Path(tmp), **overrides)
        migrate(settings)
        store = Store.from_settings(settings)
        tenant = f"bench{os.getpid()}"
        _, issued = TenantService(store).create(tenant)
        principal = KeyService(store).authenticate(issued.secret)
        listener = _Counter() if args.listener else None
        banks = BankService(store, listener=listener)
        banks.create(principal, BankCreate(name="BENCH", kind=BankKind.TAKEDOWN))

        t0 = time.perf_counter()
        with csv_path.open("rb") as f:
            report = banks.import_rows(principal, "BENCH", read_rows(f))
        seconds = time.perf_counter() - t0
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
            "rows_per_s": round(report.rows / seconds),
            "goal_seconds_per_1m": 60,
            "listener_changes": None if listener is None else listener.changes,
            "sqlite_bytes": db_bytes,
        }
    )


if __name__ == "__main__":
    main()

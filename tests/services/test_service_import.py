"""Bulk import and export through BankService (both databases)."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
import sqlalchemy as sa
from service_helpers import Side

from jikimi.domain import (
    MAX_REPORTED_ERRORS,
    BankCreate,
    BankKind,
    Role,
    RowErrorCode,
    RowFormat,
)
from jikimi.errors import Forbidden, InvalidInput
from jikimi.services import BankService, read_rows
from jikimi.store import Store
from jikimi.store import entries as entry_repo


def _pdqs(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(256):064x}" for _ in range(n)]


def _csv(lines: list[str]) -> io.BytesIO:
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def _count(store: Store, table: str) -> int:
    with store.session() as s, s.begin():
        return int(s.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_bad_rows_are_reported_by_line_and_good_rows_imported(
    banks: BankService, acme: Side
) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))
    good = _pdqs(6)
    lines = [
        "signal_type,signal_value,metadata",  # 1
        f"pdq,{good[0]},",  # 2
        "pdq,abc,",  # 3 wrong length
        f"video_md5,{'1' * 32},",  # 4 unknown type
        f"pdq,{good[1]},{{broken",  # 5 bad metadata
        f"pdq,{good[2]},x,y",  # 6 too many fields
        f"pdq,{good[3]},",  # 7
        f"PDQ,{good[0].upper()},",  # 8 duplicate of line 2 (normalised)
        f"pdq,{good[4]},",  # 9
        f'pdq,{good[5]},"{{""case"": ""C-9""}}"',  # 10
    ]
    progress: list[int] = []
    report = banks.import_rows(
        curator, "KCSC", read_rows(_csv(lines)), progress.append, source="kcsc.csv", batch_size=2
    )
    assert (report.rows, report.added, report.duplicates, report.error_count) == (9, 4, 1, 4)
    assert [(e.line, e.code) for e in report.errors] == [
        (3, RowErrorCode.INVALID_HASH),
        (4, RowErrorCode.UNKNOWN_SIGNAL_TYPE),
        (5, RowErrorCode.BAD_METADATA),
        (6, RowErrorCode.MALFORMED_ROW),
    ]
    assert all(e.message for e in report.errors)
    assert progress == sorted(progress) and progress[-1] == 9 and len(progress) >= 3
    entries = banks.list_entries(curator, "KCSC").entries
    assert [e.value for e in entries] == [good[0], good[3], good[4], good[5]]
    assert entries[-1].metadata == {"case": "C-9"} and entries[0].source == "kcsc.csv"
    assert banks.get(curator, "KCSC").entry_count == 4


def test_a_crash_mid_batch_leaves_whole_batches_only(
    store: Store, banks: BankService, acme: Side, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch in flight is rolled back entirely (entries and change log alike), and
    importing the file again finishes the job."""
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))
    values = _pdqs(10)
    rows = [{"signal_type": "pdq", "signal_value": v} for v in values]

    real = entry_repo.adjust_entry_count
    calls = {"n": 0}

    def crash_on_second_batch(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the last step: the batch's rows and log rows are written
            raise OSError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(entry_repo, "adjust_entry_count", crash_on_second_batch)
    with pytest.raises(OSError, match="on fire"):
        banks.import_rows(curator, "KCSC", rows, batch_size=4)
    monkeypatch.undo()

    assert _count(store, "bank_entries") == 4
    assert _count(store, "changes") == 4
    assert banks.get(curator, "KCSC").entry_count == 4
    report = banks.import_rows(curator, "KCSC", rows, batch_size=4)
    assert (report.added, report.duplicates, report.error_count) == (6, 4, 0)
    assert [e.value for e in banks.list_entries(curator, "KCSC").entries] == values
    assert _count(store, "changes") == 10


@pytest.mark.parametrize("fmt", list(RowFormat))
def test_export_then_import_round_trip(banks: BankService, acme: Side, fmt: RowFormat) -> None:
    curator = acme.as_[Role.CURATOR]
    for name in ("SOURCE", "COPY"):
        banks.create(curator, BankCreate(name=name, kind=BankKind.WATCH))
    values = _pdqs(5)
    rows: list[dict[str, Any]] = [
        {"signal_type": "pdq", "signal_value": v, "metadata": {"i": i, "note": 'a "b", c'}}
        for i, v in enumerate(values)
    ]
    rows.append({"signal_type": "md5", "signal_value": "c" * 32})
    assert banks.import_rows(curator, "SOURCE", rows).added == 6

    exported = "".join(banks.export(curator, "SOURCE", fmt)).encode()
    report = banks.import_rows(curator, "COPY", read_rows(io.BytesIO(exported)))
    assert (report.added, report.error_count) == (6, 0)

    def content(bank: str) -> list[tuple[str, str, dict[str, Any]]]:
        page = banks.list_entries(curator, bank).entries
        return [(e.signal.value, e.value, e.metadata) for e in page]

    assert content("COPY") == content("SOURCE")
    assert content("SOURCE")[0][2] == {"i": 0, "note": 'a "b", c'}


def test_import_permissions_and_arguments(banks: BankService, acme: Side) -> None:
    banks.create(acme.as_[Role.ADMIN], BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))
    row = [{"signal_type": "md5", "signal_value": "d" * 32}]
    for role in (Role.REVIEWER, Role.PLATFORM, Role.CASEWORKER):
        with pytest.raises(Forbidden):
            banks.import_rows(acme.as_[role], "KCSC", row)
        with pytest.raises(Forbidden):
            banks.export(acme.as_[role], "KCSC", RowFormat.CSV)
    with pytest.raises(InvalidInput):
        banks.import_rows(acme.as_[Role.CURATOR], "KCSC", row, batch_size=0)
    assert banks.get(acme.as_[Role.ADMIN], "KCSC").entry_count == 0


def test_errors_are_counted_beyond_the_reported_ones(banks: BankService, acme: Side) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))
    bad = [{"signal_type": "pdq", "signal_value": "nope"}] * (MAX_REPORTED_ERRORS + 5)
    report = banks.import_rows(curator, "KCSC", bad)
    assert report.error_count == MAX_REPORTED_ERRORS + 5
    assert len(report.errors) == MAX_REPORTED_ERRORS
    assert report.errors[-1].line == MAX_REPORTED_ERRORS and report.added == 0

"""Recorded imports: the record follows each committed page; a dead import reads as
interrupted and resumes to the counts and entries of an uninterrupted one (both databases).

A process death is imitated in-process: a progress callback raises an exception that
the import does not catch as an error (a ``BaseException``), with the end-of-run note
switched off, so the record is left as a killed process leaves it: running, with a
lease that nobody renews. The real ``kill -9`` is in ``tests/cli/test_cli_import_kill.py``.
"""

from __future__ import annotations

import hashlib
import io
import random
import time

import pytest
import sqlalchemy as sa
from service_helpers import Side

from jikimi.config import Settings
from jikimi.domain import BankCreate, BankImport, BankKind, ImportState, Principal, Role, RowFormat
from jikimi.errors import (
    Forbidden,
    ImportFileMismatch,
    ImportNotResumable,
    InvalidInput,
    NotFound,
)
from jikimi.services import BankService, read_rows
from jikimi.services.imports import ImportLeaseLost
from jikimi.store import Store
from jikimi.store import imports as import_repo

LEASE_S = 0.3
BATCH = 100


class _Died(BaseException):
    """What a killed process 'raises': nothing of it runs afterwards."""


@pytest.fixture
def banks(store: Store, settings: Settings) -> BankService:
    return BankService(store, settings=settings.model_copy(update={"import_lease_s": LEASE_S}))


def _file(n: int, seed: int = 1, bad_every: int = 0, dup_every: int = 0) -> bytes:
    """A CSV of ``n`` rows: pdq hashes, some rows bad, some repeating an earlier one."""
    rng = random.Random(seed)
    lines, seen = ["signal_type,signal_value,metadata"], []
    for i in range(1, n + 1):
        if bad_every and i % bad_every == 0:
            lines.append(f"pdq,not-hex-{i},")
        elif dup_every and i % dup_every == 0 and seen:
            lines.append(f"pdq,{seen[i % len(seen)]},")
        else:
            value = f"{rng.getrandbits(256):064x}"
            seen.append(value)
            lines.append(f"pdq,{value},")
    return ("\n".join(lines) + "\n").encode()


def _entry_count(store: Store, bank_id: str) -> int:
    with store.session() as s, s.begin():
        sql = sa.text("SELECT count(*) FROM bank_entries WHERE bank_id = :b")
        return int(s.execute(sql, {"b": bank_id}).scalar_one())


def _killed(
    banks: BankService,
    monkeypatch: pytest.MonkeyPatch,
    curator: Principal,
    bank: str,
    data: bytes,
    pages: int,
) -> str:
    """Start an import of ``data`` and 'kill' it after ``pages`` pages; its id."""
    started: list[BankImport] = []
    seen = 0

    def on_progress(rows: int) -> None:
        nonlocal seen
        seen += 1
        if seen == pages:
            raise _Died

    with monkeypatch.context() as m:
        m.setattr(BankService, "_end_run", lambda *a, **k: None)  # a dead process notes nothing
        with pytest.raises(_Died):
            banks.import_file(
                curator,
                bank,
                io.BytesIO(data),
                on_start=started.append,
                on_progress=on_progress,
                batch_size=BATCH,
            )
    return started[0].id


def test_an_import_is_recorded_with_who_what_and_its_counts(banks: BankService, acme: Side) -> None:
    curator = acme.as_[Role.CURATOR]
    bank = banks.create(curator, BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))
    data = _file(450, bad_every=50, dup_every=7)
    done = banks.import_file(curator, "KCSC", io.BytesIO(data), source="feed", batch_size=BATCH)
    # The same file again, unrecorded: every row is a duplicate or an error.
    plain = banks.import_rows(curator, "KCSC", read_rows(io.BytesIO(data)))
    assert done.id.startswith("imp_") and done.state is ImportState.DONE
    assert (done.key_id, done.bank, done.bank_id) == (curator.key_id, "KCSC", bank.id)
    assert done.file_sha256 == hashlib.sha256(data).hexdigest()
    assert (done.file_bytes, done.format, done.source, done.runs) == (
        len(data),
        RowFormat.CSV,
        "feed",
        1,
    )
    assert done.rows == 450 and done.error_count == 9 == len(done.errors)
    assert done.added + done.duplicates + done.error_count == 450
    assert done.duplicates > 0 and done.added == _entry_count(banks.store, bank.id)
    assert done.errors[0].line == 51 and done.errors[0].code.value == "invalid_hash"
    assert done.finished_at is not None and done.finished_at >= done.started_at
    assert plain.added == 0 and plain.error_count == 9
    assert banks.get_import(curator, done.id) == done
    assert [i.id for i in banks.list_imports(curator, "KCSC")] == [done.id]


def test_a_killed_import_reads_as_interrupted_with_what_it_committed(
    banks: BankService, acme: Side, monkeypatch: pytest.MonkeyPatch
) -> None:
    curator = acme.as_[Role.CURATOR]
    bank = banks.create(curator, BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))
    import_id = _killed(banks, monkeypatch, curator, "KCSC", _file(1_000, bad_every=30), pages=3)

    live = banks.get_import(curator, import_id)
    assert live.state is ImportState.RUNNING  # its lease has not lapsed yet
    time.sleep(LEASE_S * 1.5)
    dead = banks.get_import(curator, import_id)
    assert dead.state is ImportState.INTERRUPTED
    # Exactly what the committed pages hold, in the same transactions.
    assert dead.added == _entry_count(banks.store, bank.id) == 3 * BATCH
    assert dead.rows == dead.added + dead.duplicates + dead.error_count
    assert dead.error_count == len(dead.errors) == dead.rows // 30 > 0
    assert dead.finished_at is None

    [noted] = banks.recover_imports()  # what the server does at start-up: writes it down
    assert noted.id == import_id and noted.state is ImportState.INTERRUPTED
    with banks.store.session() as s, s.begin():
        state = s.execute(sa.text("SELECT state FROM imports")).scalar_one()
    assert state == "interrupted"
    assert banks.recover_imports() == []


def test_a_resumed_import_ends_as_an_uninterrupted_one(
    banks: BankService, acme: Side, monkeypatch: pytest.MonkeyPatch
) -> None:
    curator = acme.as_[Role.CURATOR]
    for name in ("ONCE", "TWICE"):
        banks.create(curator, BankCreate(name=name, kind=BankKind.TAKEDOWN))
    data = _file(1_234, bad_every=41, dup_every=9)
    once = banks.import_file(curator, "ONCE", io.BytesIO(data), batch_size=BATCH)

    import_id = _killed(banks, monkeypatch, curator, "TWICE", data, pages=4)
    time.sleep(LEASE_S * 1.5)
    progress: list[int] = []
    resumed = banks.import_file(
        curator,
        "TWICE",
        io.BytesIO(data),
        resume=True,
        on_progress=progress.append,
        batch_size=BATCH,
    )
    assert resumed.id == import_id and resumed.runs == 2
    assert resumed.state is ImportState.DONE and resumed.finished_at is not None
    assert resumed.report() == once.report()  # counts and the first errors alike
    assert progress[0] > 4 * BATCH  # it went on from where it was, not from the start
    entries = {
        name: [(e.signal, e.value) for e in banks.list_entries(curator, name, limit=1000).entries]
        for name in ("ONCE", "TWICE")
    }
    assert entries["ONCE"] == entries["TWICE"]  # the same entries, in the same order
    with pytest.raises(ImportNotResumable, match="done"):
        banks.import_file(curator, "TWICE", io.BytesIO(data), resume=import_id)


def test_resume_checks_the_file_and_the_state(
    banks: BankService, acme: Side, bravo: Side, monkeypatch: pytest.MonkeyPatch
) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))
    banks.create(curator, BankCreate(name="OTHER", kind=BankKind.TAKEDOWN))
    data = _file(500)
    import_id = _killed(banks, monkeypatch, curator, "KCSC", data, pages=2)

    # Still running (its lease is fresh): nobody else may take it.
    with pytest.raises(ImportNotResumable, match="still running"):
        banks.import_file(curator, "KCSC", io.BytesIO(data), resume=import_id)
    time.sleep(LEASE_S * 1.5)
    with pytest.raises(ImportFileMismatch) as mismatch:
        banks.import_file(curator, "KCSC", io.BytesIO(data[:-10]), resume=import_id)
    assert mismatch.value.code == "import_file_mismatch"
    assert hashlib.sha256(data).hexdigest() in mismatch.value.message
    with pytest.raises(ImportFileMismatch, match="as csv, not jsonl"):
        banks.import_file(curator, "KCSC", io.BytesIO(data), RowFormat.JSONL, resume=import_id)
    with pytest.raises(InvalidInput, match="source"):
        banks.import_file(curator, "KCSC", io.BytesIO(data), source="x", resume=import_id)
    with pytest.raises(NotFound):  # another bank's import
        banks.import_file(curator, "OTHER", io.BytesIO(data), resume=import_id)
    with pytest.raises(NotFound, match="no unfinished import of this file"):
        banks.import_file(curator, "KCSC", io.BytesIO(_file(5, seed=9)), resume=True)
    with pytest.raises(NotFound):  # no such id
        banks.import_file(curator, "KCSC", io.BytesIO(data), resume="imp_nope")

    # Another tenant sees nothing of it; roles without import rights are refused first.
    other = bravo.as_[Role.ADMIN]
    with pytest.raises(NotFound):
        banks.get_import(other, import_id)
    banks.create(other, BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))
    assert banks.list_imports(other, "KCSC") == []
    with pytest.raises(NotFound):
        banks.import_file(other, "KCSC", io.BytesIO(data), resume=import_id)
    for role in (Role.REVIEWER, Role.CASEWORKER, Role.PLATFORM):
        with pytest.raises(Forbidden):
            banks.get_import(acme.as_[role], import_id)
        with pytest.raises(Forbidden):
            banks.list_imports(acme.as_[role], "KCSC")

    # Nothing above took the import or changed it.
    assert banks.get_import(curator, import_id).runs == 1
    done = banks.import_file(curator, "KCSC", io.BytesIO(data), resume=import_id)
    assert (done.state, done.rows, done.added) == (ImportState.DONE, 500, 500)


def test_an_error_marks_the_import_failed_and_it_can_be_resumed(
    banks: BankService, acme: Side, monkeypatch: pytest.MonkeyPatch
) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))
    data = _file(600)
    calls = 0

    def flaky(rows: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError):
        banks.import_file(curator, "KCSC", io.BytesIO(data), on_progress=flaky, batch_size=BATCH)
    [failed] = banks.list_imports(curator, "KCSC")
    assert failed.state is ImportState.FAILED and failed.rows == 2 * BATCH
    assert failed.failure is not None and failed.failure.code == "internal_error"
    assert "disk is full" not in failed.failure.message  # the internals go to the log only
    done = banks.import_file(curator, "KCSC", io.BytesIO(data), resume=True, batch_size=BATCH)
    assert (done.id, done.state, done.failure, done.added) == (
        failed.id,
        ImportState.DONE,
        None,
        600,
    )


def test_ctrl_c_marks_the_import_interrupted_at_once(banks: BankService, acme: Side) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))

    def interrupt(rows: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        banks.import_file(curator, "KCSC", io.BytesIO(_file(300)), on_progress=interrupt)
    [record] = banks.list_imports(curator, "KCSC")
    assert record.state is ImportState.INTERRUPTED and record.rows == 300


def test_a_run_whose_import_was_taken_over_stops_and_commits_nothing_more(
    banks: BankService, acme: Side
) -> None:
    """A process that stalled past its lease while another resumed the import must not
    write a page over the other's: the page rolls back and the run stops."""
    curator = acme.as_[Role.CURATOR]
    bank = banks.create(curator, BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))
    store = banks.store

    def taken_over(rows: int) -> None:
        [record] = banks.list_imports(curator, "KCSC")
        later = record.updated_at.replace(year=record.updated_at.year + 1)
        with store.session(write=True) as s, s.begin():
            assert import_repo.claim_resume(s, acme.tenant.id, record.id, "thief", later, later)

    with pytest.raises(ImportLeaseLost):
        banks.import_file(
            curator, "KCSC", io.BytesIO(_file(500)), on_progress=taken_over, batch_size=BATCH
        )
    [record] = banks.list_imports(curator, "KCSC")
    assert record.rows == BATCH == record.added == _entry_count(store, bank.id)
    assert record.state is ImportState.RUNNING and record.runs == 2  # the thief's run


def test_the_format_is_guessed_from_the_content_and_recorded(
    banks: BankService, acme: Side
) -> None:
    curator = acme.as_[Role.CURATOR]
    banks.create(curator, BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))
    value = "f" * 64
    files = {
        RowFormat.JSON: f'\n\n  [{{"signal_type": "pdq", "signal_value": "{value}"}}]',
        RowFormat.JSONL: f'\ufeff{{"signal_type": "md5", "signal_value": "{"a" * 32}"}}\n',
        RowFormat.CSV: f"   \r\n\npdq,{'e' * 64}\n",
    }
    for fmt, text in files.items():
        stream = io.BytesIO(text.encode())
        record = banks.import_file(curator, "KCSC", stream)
        assert (record.format, record.rows, record.added) == (fmt, 1, 1), fmt

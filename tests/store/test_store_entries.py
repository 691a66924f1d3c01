"""Entries and the change log the matching index follows (both databases)."""

from __future__ import annotations

import random
import re
import time

import pytest
import sqlalchemy as sa
from store_helpers import at, random_hex, tenant_and_bank

from jikimi.domain import BankCreate, BankKind, ChangeOp, EntryMeta, EntryStatus, SignalKind
from jikimi.errors import Conflict
from jikimi.ids import ulid
from jikimi.store import Store
from jikimi.store import banks as bank_repo
from jikimi.store import entries as repo
from jikimi.store.entries import NewEntry


def _rows(n: int, seed: int = 1) -> list[NewEntry]:
    rng = random.Random(seed)
    return [NewEntry(SignalKind.PDQ, random_hex(rng), {"n": i} if i % 2 else {}) for i in range(n)]


def test_bulk_insert_skips_duplicates_and_logs_each_addition(store: Store) -> None:
    _, bank = tenant_and_bank(store)
    rows = _rows(20)
    when = at()
    with store.session(write=True) as s, s.begin():
        added, first = repo.insert_entries(s, bank.id, rows[:12], source="list-1", at=when)
        assert added == 12
    with store.session(write=True) as s, s.begin():
        # 8 new rows, 4 already there, one repeated inside the batch
        added, second = repo.insert_entries(
            s, bank.id, [*rows[8:], rows[19]], source=None, at=when, want_changes=True
        )
        assert added == 8
    assert [c.value for c in first] == [r.value for r in rows[:12]]
    assert [c.value for c in second] == [r.value for r in rows[12:]]
    assert all(c.op == ChangeOp.ADD and c.bank_id == bank.id for c in first + second)
    ids = [c.id for c in first + second]
    assert ids == sorted(ids) and len(set(ids)) == 20

    with store.session() as s, s.begin():
        assert bank_repo.get_bank(s, bank.id).entry_count == 20  # type: ignore[union-attr]
        page = repo.list_entries(s, bank.id, bank.name, after_seq=0, limit=100)
        assert repo.max_change_id(s) == ids[-1]
        read = repo.changes_since(s, ids[11])
        assert [c._replace(entry_id=None) for c in read] == [
            c._replace(entry_id=None) for c in second
        ]
        assert [c.entry_id for c in read] == [e.id for _, e in page[12:]]
    entries = [e for _, e in page]
    assert [e.value for e in entries] == [r.value for r in rows]
    assert entries[1].metadata == {"n": 1} and entries[0].metadata == {}
    assert entries[0].source == "list-1" and entries[12].source is None
    # Timestamps written by the bulk path read back exactly, timezone-aware.
    assert entries[0].created_at == when and entries[0].created_at.tzinfo is not None


def test_bulk_and_single_inserts_store_timestamps_alike(store: Store) -> None:
    _, bank = tenant_and_bank(store)
    when = at()
    with store.session(write=True) as s, s.begin():
        repo.insert_entries(s, bank.id, _rows(1), source=None, at=when)
        repo.add_entry(
            s,
            bank_id=bank.id,
            bank_name=bank.name,
            signal=SignalKind.MD5,
            value="0" * 32,
            meta=EntryMeta(),
            media_sha256=None,
            at=when,
        )
    with store.session() as s, s.begin():
        raw = s.execute(sa.text("SELECT created_at FROM bank_entries ORDER BY seq")).scalars().all()
        since = sa.text("SELECT count(*) FROM bank_entries WHERE created_at >= :t")
        same = s.execute(
            since.bindparams(sa.bindparam("t", when, type_=repo.ENTRIES.c.created_at.type))
        ).scalar()
    assert raw[0] == raw[1]  # same text on SQLite, same instant on PostgreSQL
    assert same == 2


def test_status_changes_log_remove_and_add(store: Store) -> None:
    _, bank = tenant_and_bank(store)
    with store.session(write=True) as s, s.begin():
        entry, added = repo.add_entry(
            s,
            bank_id=bank.id,
            bank_name=bank.name,
            signal=SignalKind.MD5,
            value="a" * 32,
            meta=EntryMeta(note="n"),
            media_sha256=None,
            at=at(),
        )
    steps = [
        (EntryStatus.DISABLED, ChangeOp.REMOVE),
        (EntryStatus.DISABLED, None),  # no-op
        (EntryStatus.ACTIVE, ChangeOp.ADD),
        (EntryStatus.WITHDRAWN, ChangeOp.REMOVE),
    ]
    for status, op in steps:
        with store.session(write=True) as s, s.begin():
            result = repo.set_entry_status(s, bank.id, bank.name, entry.id, status, at())
        assert result is not None
        assert result[0].status == status
        assert (result[1].op if result[1] else None) == op
    with store.session(write=True) as s, s.begin():
        assert (
            repo.set_entry_status(s, bank.id, bank.name, entry.id, EntryStatus.ACTIVE, at()) is None
        )
        assert repo.get_entry(s, bank.id, bank.name, entry.id) is None
        assert repo.list_entries(s, bank.id, bank.name, after_seq=0, limit=10) == []
        assert list(repo.iter_active_entries(s)) == []
        ops = [c.op for c in repo.changes_since(s, 0)]
        assert bank_repo.get_bank(s, bank.id).entry_count == 0  # type: ignore[union-attr]
    assert ops == [ChangeOp.ADD, ChangeOp.REMOVE, ChangeOp.ADD, ChangeOp.REMOVE]
    assert added.id == 1


def test_single_add_of_an_existing_hash_is_a_conflict(store: Store) -> None:
    _, bank = tenant_and_bank(store)
    kwargs = dict(
        bank_id=bank.id,
        bank_name=bank.name,
        signal=SignalKind.MD5,
        value="b" * 32,
        meta=EntryMeta(),
        media_sha256=None,
    )
    with store.session(write=True) as s, s.begin():
        repo.add_entry(s, at=at(), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(Conflict), store.session(write=True) as s, s.begin():
        repo.add_entry(s, at=at(), **kwargs)  # type: ignore[arg-type]
    with store.session() as s, s.begin():
        assert repo.max_change_id(s) == 1  # the failed add logged nothing


def test_index_feeds(store: Store) -> None:
    """What the matching index reads: active entries, refs for hits, exact lookups."""
    tenant, bank = tenant_and_bank(store)
    rows = _rows(5)
    with store.session(write=True) as s, s.begin():
        _, changes = repo.insert_entries(s, bank.id, rows, source=None, at=at())
        other = bank_repo.create_bank(
            s, tenant.id, BankCreate(name="OTHER", kind=BankKind.WATCH), at()
        )
        added, none = repo.insert_entries(
            s, other.id, rows[:1], source=None, at=at(), want_changes=False
        )
        assert (added, none) == (1, [])
    with store.session() as s, s.begin():
        active = list(repo.iter_active_entries(s, [bank.id], batch_size=2))
        everything = list(repo.iter_active_entries(s))
        refs = repo.entry_refs(s, [changes[0].seq, changes[3].seq, 999_999])
        exact = repo.find_active_by_value(s, [bank.id, other.id], SignalKind.PDQ, [rows[0].value])
        none = repo.find_active_by_value(s, [bank.id], SignalKind.MD5, [rows[0].value])
    assert [a.value for a in active] == [r.value for r in rows]
    assert [a.seq for a in active] == [c.seq for c in changes]
    assert len(everything) == 6
    assert set(refs) == {changes[0].seq, changes[3].seq}
    assert refs[changes[0].seq].bank == "TAKEDOWNS" and refs[changes[0].seq].entry_id.startswith(
        "ent_"
    )
    assert sorted(ref.bank for _, ref in exact) == ["OTHER", "TAKEDOWNS"]
    assert none == []


def test_deleting_a_bank_logs_removals_and_cascades(store: Store) -> None:
    _, bank = tenant_and_bank(store)
    with store.session(write=True) as s, s.begin():
        _, changes = repo.insert_entries(s, bank.id, _rows(4), source=None, at=at())
    with store.session(write=True) as s, s.begin():
        first = repo.list_entries(s, bank.id, bank.name, after_seq=0, limit=1)[0][1]
        repo.set_entry_status(s, bank.id, bank.name, first.id, EntryStatus.DISABLED, at())
    with store.session(write=True) as s, s.begin():
        removed = repo.record_bank_removal(s, bank.id, at())
        bank_repo.delete_bank(s, bank.id)
    with store.session() as s, s.begin():
        log = repo.changes_since(s, changes[-1].id)
        left = s.execute(sa.text("SELECT count(*) FROM bank_entries")).scalar()
    assert removed == 3  # the disabled entry was already out of the index
    assert [c.op for c in log] == [ChangeOp.REMOVE] * 4  # disable + 3 removals
    assert {c.seq for c in log} == {c.seq for c in changes}
    assert left == 0


def test_new_ids_are_ulids_of_now() -> None:
    ids = repo.new_ids("ent", 1000)
    assert len(set(ids)) == 1000
    assert all(re.fullmatch(r"ent_[0-9A-HJKMNP-TV-Z]{26}", i) for i in ids)
    reference = ulid(int(time.time() * 1000))
    assert ids[0][4:10] == reference[:6]  # same time prefix (to ~1 s)
    assert repo.new_ids("ent", 0) == []

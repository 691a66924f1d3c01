"""Repository of bank entries and of the change log that the matching index follows.

Every write that changes which entries are *active* also appends to
``changes`` in the same transaction (``add`` when an entry starts matching,
``remove`` when it stops). The matching index is a cache on disk: it saves a
snapshot together with the highest change id it contains (its watermark W), and
after a restart or crash loads the snapshot and replays :func:`changes_since`
(W). For that to be complete, change ids must become visible in increasing
order. SQLite has one writer at a time; on PostgreSQL every entry write first
takes one transaction-scoped advisory lock (:func:`_lock_entry_writes`), so
entry writers commit one after the other: a change id (or entry ``seq``) is only
handed out once every smaller one has committed.

A hash is in a bank at most once, enforced by a unique 16-byte
:func:`dedupe_key`. Bulk imports (:func:`insert_entries`) insert with
``ON CONFLICT DO NOTHING``, so duplicates are skipped by that index (and counted
by the caller) instead of failing the batch: on SQLite through the driver's
``executemany``, on PostgreSQL by COPY into a temporary table and one
``INSERT … SELECT`` (a million rows in seconds rather than minutes).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jikimi.domain import (
    Change,
    ChangeOp,
    Entry,
    EntryMeta,
    EntryRef,
    EntryStatus,
    IndexEntry,
    SignalKind,
)
from jikimi.errors import Conflict
from jikimi.ids import new_id
from jikimi.store.banks import adjust_entry_count
from jikimi.store.models import BankRow, ChangeRow, EntryRow

if TYPE_CHECKING:
    import psycopg

_ENTRY_WRITE_LOCK = 0x6A6B6368616E6765  # "jkchange": see _lock_entry_writes
_IN_CHUNK = 500  # keeps IN (...) lists well under every driver's parameter limit

ENTRIES = cast(sa.Table, EntryRow.__table__)
CHANGES = cast(sa.Table, ChangeRow.__table__)


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A validated row of an import, ready to insert."""

    signal: SignalKind
    value: str
    metadata: dict[str, Any]


def _entry(row: EntryRow, bank_name: str) -> Entry:
    return Entry(
        id=row.id,
        bank=bank_name,
        signal=SignalKind(row.signal),
        value=row.value,
        status=EntryStatus(row.status),
        source=row.source,
        note=row.note,
        metadata=dict(row.meta),
        created_at=row.created_at,
        updated_at=row.updated_at,
        media_sha256=row.media_sha256,
    )


# --- writes ---------------------------------------------------------------------


def dedupe_key(bank_id: str, signal: str, value: str) -> bytes:
    """The unique key of a hash in a bank: the first 16 bytes of a SHA-256.

    Why not a unique index on ``(bank_id, signal, value)``: its ~100-byte keys in
    random order no longer fit in the page cache past a few hundred thousand
    entries, and imports slow down several-fold; 16 bytes keep the index ~6 times
    smaller. 128 bits make an accidental collision practically impossible.
    """
    return hashlib.sha256(f"{bank_id}\x00{signal}\x00{value}".encode("ascii")).digest()[:16]


def find_entry_by_value(
    s: Session, bank_id: str, bank_name: str, signal: SignalKind, value: str
) -> Entry | None:
    """The entry holding this hash in the bank, whatever its status (withdrawn too)."""
    key = dedupe_key(bank_id, signal.value, value)
    row = s.scalar(sa.select(EntryRow).where(EntryRow.dedupe_key == key))
    return None if row is None else _entry(row, bank_name)


def add_entry(
    s: Session,
    *,
    bank_id: str,
    bank_name: str,
    signal: SignalKind,
    value: str,
    meta: EntryMeta,
    media_sha256: str | None,
    at: datetime,
    variants: str = "",
) -> tuple[Entry, Change]:
    """Insert one active entry and its ``add`` change; :class:`Conflict` if already there."""
    _lock_entry_writes(s)
    row = EntryRow(
        id=new_id("ent"),
        bank_id=bank_id,
        signal=signal.value,
        value=value,
        dedupe_key=dedupe_key(bank_id, signal.value, value),
        status=EntryStatus.ACTIVE.value,
        source=meta.source,
        note=meta.note,
        meta=dict(meta.metadata),
        media_sha256=media_sha256,
        variants=variants or None,
        created_at=at,
        updated_at=at,
    )
    s.add(row)
    try:
        s.flush()
    except IntegrityError:
        raise Conflict(f"this {signal.value} hash is already in bank {bank_name}") from None
    (change,) = record_changes(s, [(ChangeOp.ADD, row.seq, bank_id, signal.value, value)], at)
    adjust_entry_count(s, bank_id, 1)
    return _entry(row, bank_name), change


def insert_entries(
    s: Session,
    bank_id: str,
    rows: Sequence[NewEntry],
    *,
    source: str | None,
    at: datetime,
    want_changes: bool = True,
) -> tuple[int, list[Change]]:
    """Insert a batch of active entries, skipping hashes already in the bank.

    Returns how many rows went in (the caller counts the rest as duplicates) and
    their ``add`` changes in ``seq`` order — or no changes if ``want_changes`` is
    false (nobody in this process listens: a CLI import; saves building a million
    objects). Rows keep their order: ``seq`` (and so listing and export) follows
    the batch. Each database gets its fastest path (:func:`_insert_postgresql`,
    :func:`_insert_sqlite`); both skip duplicates by the unique :func:`dedupe_key`,
    a hash repeated inside the batch too.
    """
    if not rows:
        return 0, []
    batch = _Batch(bank_id, rows)
    if s.get_bind().dialect.name == "postgresql":
        added, changes = _insert_postgresql(s, batch, source, at, want_changes)
    else:
        added, changes = _insert_sqlite(s, batch, source, at, want_changes)
    adjust_entry_count(s, bank_id, added)
    return added, changes


class _Batch:
    """The columns of a batch that both databases need, computed once per row."""

    def __init__(self, bank_id: str, rows: Sequence[NewEntry]) -> None:
        to_json = json.dumps  # what SQLAlchemy's JSON type writes, on both databases
        empty = to_json({})
        sha256 = hashlib.sha256
        prefix = f"{bank_id}\x00"
        names = {kind: kind.value for kind in SignalKind}  # plain str for the driver
        self.bank_id = bank_id
        self.ids = new_ids("ent", len(rows))
        self.signals = [names[r.signal] for r in rows]
        self.values = [r.value for r in rows]
        # dedupe_key(), inlined so that the bank's part is formatted once per batch.
        self.keys = [
            sha256(f"{prefix}{sig}\x00{value}".encode("ascii")).digest()[:16]
            for sig, value in zip(self.signals, self.values, strict=True)
        ]
        self.metadata = [to_json(r.metadata) if r.metadata else empty for r in rows]


_PG_STAGE = "jikimi_import_stage"
_PG_STAGE_COLUMNS = (
    ("ord", "int4"),
    ("id", "text"),
    ("signal", "text"),
    ("value", "text"),
    ("dedupe_key", "bytea"),
    ("metadata", "text"),
)
_PG_STAGE_SETUP = (
    f"DROP TABLE IF EXISTS pg_temp.{_PG_STAGE};"  # a second batch in the same transaction
    f" CREATE TEMPORARY TABLE {_PG_STAGE}"
    f" ({', '.join(f'{name} {kind}' for name, kind in _PG_STAGE_COLUMNS)}) ON COMMIT DROP;"
    " SET LOCAL work_mem = '64MB'"  # sort a batch in memory, not in temporary files
)
_PG_INSERT = f"""
WITH new AS (
    INSERT INTO bank_entries (id, bank_id, signal, value, dedupe_key, status, source,
                              note, metadata, media_sha256, created_at, updated_at)
    SELECT id, %(bank_id)s, signal, value, dedupe_key, '{EntryStatus.ACTIVE.value}', %(source)s,
           NULL, metadata::json, NULL, %(at)s, %(at)s
    FROM {_PG_STAGE} ORDER BY ord
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING seq, signal, value
)
INSERT INTO changes (op, entry_seq, bank_id, signal, value, at)
SELECT '{ChangeOp.ADD.value}', seq, %(bank_id)s, signal, value, %(at)s FROM new ORDER BY seq
"""


def _insert_postgresql(
    s: Session, batch: _Batch, source: str | None, at: datetime, want_changes: bool
) -> tuple[int, list[Change]]:
    """COPY the batch into a temporary table, then one ``INSERT … SELECT`` does the rest.

    Why: ``executemany`` costs one statement execution per row on the server (and
    ~90 s for a million rows); COPY streams the rows in binary at ~1 M/s, and the
    statement that moves them skips duplicates (``ON CONFLICT (dedupe_key) DO
    NOTHING``, which also catches a hash repeated inside the batch; naming the
    index spares a look-up in the two other unique ones per row: measured ~20 %
    faster), and logs each new entry in the same pass (a data-modifying
    ``WITH``): ``seq`` follows the staging order and change ids follow ``seq``,
    since both are drawn while the sorted rows stream into the INSERT. The
    staging table lives until the end of the transaction. The entry-write lock
    is taken after the COPY, so it is held only for the INSERT, then
    :func:`adjust_entry_count` and the commit.
    """
    driver = cast("psycopg.Connection[Any]", s.connection().connection.driver_connection)
    cursor = driver.cursor()
    try:
        cursor.execute(_PG_STAGE_SETUP)
        with cursor.copy(f"COPY {_PG_STAGE} FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([kind for _, kind in _PG_STAGE_COLUMNS])
            write = copy.write_row
            for row in zip(
                range(len(batch.ids)),
                batch.ids,
                batch.signals,
                batch.values,
                batch.keys,
                batch.metadata,
                strict=True,
            ):
                write(row)
        _lock_entry_writes(s)
        at_db = _processor(ENTRIES.c.created_at, s.get_bind().dialect)(at)
        params = {"bank_id": batch.bank_id, "source": source, "at": at_db}
        if not want_changes:
            cursor.execute(_PG_INSERT, params)
            return cursor.rowcount, []
        cursor.execute(_PG_INSERT + " RETURNING id, entry_seq, signal, value", params)
        logged = sorted(cursor.fetchall())  # RETURNING's order is not promised
    finally:
        cursor.close()
    kinds = {k.value: k for k in SignalKind}
    add = ChangeOp.ADD
    changes = [Change(i, add, seq, batch.bank_id, kinds[sig], v, at) for i, seq, sig, v in logged]
    return len(changes), changes


_SQLITE_INSERT = (
    "INSERT INTO bank_entries (id, bank_id, signal, value, dedupe_key, status, source,"
    " note, metadata, media_sha256, created_at, updated_at)"
    f" VALUES (?, ?, ?, ?, ?, '{EntryStatus.ACTIVE.value}', ?, NULL, ?, NULL, ?, ?)"
    " ON CONFLICT DO NOTHING"
)


def _insert_sqlite(
    s: Session, batch: _Batch, source: str | None, at: datetime, want_changes: bool
) -> tuple[int, list[Change]]:
    """The driver's own ``executemany``, then one ``INSERT … SELECT`` into the change log.

    sqlite3 runs ``executemany`` in C against an in-process database, which is as
    fast as it gets there (values are converted once per batch here rather than
    per row by typed columns). SQLite has one writer at a time, and the session
    began with ``BEGIN IMMEDIATE``: every entry with a seq above the one read
    first is one of ours, and so is every change.
    """
    conn = s.connection()
    at_db = _processor(ENTRIES.c.created_at, conn.dialect)(at)
    bank_id = batch.bank_id
    params = [
        (entry_id, bank_id, sig, value, key, source, meta, at_db, at_db)
        for entry_id, sig, value, key, meta in zip(
            batch.ids, batch.signals, batch.values, batch.keys, batch.metadata, strict=True
        )
    ]
    _lock_entry_writes(s)
    last_seq = _max_seq(s)
    last_change = max_change_id(s)
    conn.exec_driver_sql(_SQLITE_INSERT, params)
    _log_new_entries(s, ChangeOp.ADD, ENTRIES.c.seq > last_seq, at)
    added = _count_changes_since(s, last_change)
    changes = changes_since(s, last_change, at=at) if want_changes else []
    return added, changes


def _processor(column: sa.ColumnElement[Any], dialect: sa.Dialect) -> Any:
    """The function that turns a Python value into what the driver gets for ``column``."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda value: value)


def _count_changes_since(s: Session, change_id: int) -> int:
    """Changes after ``change_id``: under the entry-write lock, the ones we just wrote.

    Counted, not ``max(id) - change_id``: PostgreSQL sequences skip the ids of
    rolled-back transactions.
    """
    return int(s.scalar(sa.select(sa.func.count()).where(CHANGES.c.id > change_id)) or 0)


def _max_seq(s: Session) -> int:
    return int(s.scalar(sa.select(sa.func.coalesce(sa.func.max(ENTRIES.c.seq), 0))) or 0)


def _log_new_entries(s: Session, op: ChangeOp, where: sa.ColumnElement[bool], at: datetime) -> None:
    """Append ``op`` for the active entries matching ``where``, in ``seq`` order."""
    select = (
        sa.select(
            sa.literal(op.value),
            ENTRIES.c.seq,
            ENTRIES.c.bank_id,
            ENTRIES.c.signal,
            ENTRIES.c.value,
            sa.literal(at, type_=CHANGES.c.at.type),
        )
        .where(where, ENTRIES.c.status == EntryStatus.ACTIVE.value)
        .order_by(ENTRIES.c.seq)
    )
    s.execute(
        sa.insert(CHANGES).from_select(
            ["op", "entry_seq", "bank_id", "signal", "value", "at"], select
        )
    )


def set_entry_status(
    s: Session, bank_id: str, bank_name: str, entry_id: str, status: EntryStatus, at: datetime
) -> tuple[Entry, Change | None] | None:
    """Move an entry to ``status``; ``None`` if there is no such (non-withdrawn) entry.

    The change log gets ``remove`` when an active entry stops matching and
    ``add`` when a disabled one is enabled again; withdrawn is final.
    """
    _lock_entry_writes(s)
    row = s.scalar(
        sa.select(EntryRow).where(
            EntryRow.bank_id == bank_id,
            EntryRow.id == entry_id,
            EntryRow.status != EntryStatus.WITHDRAWN.value,
        )
    )
    if row is None:
        return None
    old = EntryStatus(row.status)
    if old == status:
        return _entry(row, bank_name), None
    row.status = status.value
    row.updated_at = at
    s.flush()
    if status == EntryStatus.WITHDRAWN:
        adjust_entry_count(s, bank_id, -1)
    change = None
    if EntryStatus.ACTIVE in (old, status):
        op = ChangeOp.ADD if status == EntryStatus.ACTIVE else ChangeOp.REMOVE
        (change,) = record_changes(s, [(op, row.seq, bank_id, row.signal, row.value)], at)
    return _entry(row, bank_name), change


def record_bank_removal(s: Session, bank_id: str, at: datetime) -> int:
    """Log ``remove`` for every active entry of a bank about to be deleted; returns the count."""
    _lock_entry_writes(s)
    before = max_change_id(s)
    _log_new_entries(s, ChangeOp.REMOVE, ENTRIES.c.bank_id == bank_id, at)
    return _count_changes_since(s, before)


def record_changes(
    s: Session, items: Sequence[tuple[ChangeOp, int, str, str, str]], at: datetime
) -> list[Change]:
    """Append ``(op, entry seq, bank id, signal, value)`` items to the change log."""
    if not items:
        return []
    _lock_entry_writes(s)
    params = [
        {"op": op.value, "entry_seq": seq, "bank_id": b, "signal": sig, "value": v, "at": at}
        for op, seq, b, sig, v in items
    ]
    stmt = sa.insert(CHANGES).returning(CHANGES.c.id, sort_by_parameter_order=True)
    ids = s.scalars(stmt, params).all()
    return [
        Change(id, op, seq, b, SignalKind(sig), v, at)
        for id, (op, seq, b, sig, v) in zip(ids, items, strict=True)
    ]


def _lock_entry_writes(s: Session) -> None:
    """Serialise entry writers on PostgreSQL until commit (SQLite: one writer anyway)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ENTRY_WRITE_LOCK})


# --- reads ----------------------------------------------------------------------


def get_entry(s: Session, bank_id: str, bank_name: str, entry_id: str) -> Entry | None:
    """A non-withdrawn entry of the bank (withdrawn entries are never returned)."""
    row = s.scalar(
        sa.select(EntryRow).where(
            EntryRow.bank_id == bank_id,
            EntryRow.id == entry_id,
            EntryRow.status != EntryStatus.WITHDRAWN.value,
        )
    )
    return None if row is None else _entry(row, bank_name)


def list_entries(
    s: Session,
    bank_id: str,
    bank_name: str,
    *,
    after_seq: int,
    limit: int,
    status: EntryStatus | None = None,
) -> list[tuple[int, Entry]]:
    """A page of entries in insertion order (keyset pagination on ``seq``), never withdrawn."""
    stmt = sa.select(EntryRow).where(EntryRow.bank_id == bank_id, EntryRow.seq > after_seq)
    if status is None:
        stmt = stmt.where(EntryRow.status != EntryStatus.WITHDRAWN.value)
    else:
        stmt = stmt.where(EntryRow.status == status.value)
    rows = s.scalars(stmt.order_by(EntryRow.seq).limit(limit))
    return [(r.seq, _entry(r, bank_name)) for r in rows]


def iter_active_entries(
    s: Session, bank_ids: Collection[str] | None = None, *, batch_size: int = 10_000
) -> Iterator[IndexEntry]:
    """Every active entry (of ``bank_ids``, or of all banks), streamed in ``seq`` order.

    For building the matching index: read :func:`max_change_id` *first* and use
    it as the snapshot's watermark. Entries committed in between may then be in
    the snapshot and replayed again, which is harmless (replay is idempotent);
    reading the watermark last could skip them.
    """
    stmt = sa.select(
        EntryRow.seq,
        EntryRow.bank_id,
        EntryRow.signal,
        EntryRow.value,
        EntryRow.id,
        EntryRow.variants,
    ).where(EntryRow.status == EntryStatus.ACTIVE.value)
    if bank_ids is not None:
        stmt = stmt.where(EntryRow.bank_id.in_(list(bank_ids)))
    result = s.execute(stmt.order_by(EntryRow.seq).execution_options(yield_per=batch_size))
    kinds = {k.value: k for k in SignalKind}
    for seq, bank_id, signal, value, entry_id, variants in result:
        yield IndexEntry(seq, bank_id, kinds[signal], value, entry_id, variants or "")


def changes_since(
    s: Session, watermark: int, limit: int | None = None, *, at: datetime | None = None
) -> list[Change]:
    """Changes with ``id > watermark`` in id order (page with ``limit`` and the last id).

    ``at``: the time of every change asked for, when the caller knows it (saves
    parsing one timestamp per row in a bulk import).
    """
    columns: list[sa.ColumnElement[Any]] = [CHANGES.c.id, CHANGES.c.op, CHANGES.c.entry_seq]
    columns += [CHANGES.c.bank_id, CHANGES.c.signal, CHANGES.c.value, ENTRIES.c.id]
    columns.append(ENTRIES.c.variants)
    if at is None:
        columns.append(CHANGES.c.at)
    stmt = (
        sa.select(*columns)
        .select_from(CHANGES)
        .outerjoin(ENTRIES, ENTRIES.c.seq == CHANGES.c.entry_seq)
        .where(CHANGES.c.id > watermark)
        .order_by(CHANGES.c.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    ops = {o.value: o for o in ChangeOp}
    kinds = {k.value: k for k in SignalKind}
    return [
        Change(
            r[0],
            ops[r[1]],
            r[2],
            r[3],
            kinds[r[4]],
            r[5],
            at if at is not None else r[8],
            r[6],
            r[7] or "",
        )
        for r in s.execute(stmt)
    ]


def max_change_id(s: Session) -> int:
    """The highest change id (0 when the log is empty): a snapshot's watermark."""
    return int(s.scalar(sa.select(sa.func.coalesce(sa.func.max(CHANGES.c.id), 0))) or 0)


def entry_refs(s: Session, seqs: Collection[int]) -> dict[int, EntryRef]:
    """How index hits are reported: bank name and public id per entry ``seq``."""
    out: dict[int, EntryRef] = {}
    wanted = list(seqs)
    for i in range(0, len(wanted), _IN_CHUNK):
        stmt = (
            sa.select(EntryRow.seq, EntryRow.id, EntryRow.bank_id, BankRow.name, EntryRow.signal)
            .join(BankRow, BankRow.id == EntryRow.bank_id)
            .where(EntryRow.seq.in_(wanted[i : i + _IN_CHUNK]))
        )
        for seq, entry_id, bank_id, bank, signal in s.execute(stmt):
            out[seq] = EntryRef(
                seq=seq, entry_id=entry_id, bank_id=bank_id, bank=bank, signal=SignalKind(signal)
            )
    return out


def find_active_by_value(
    s: Session, bank_ids: Collection[str], signal: SignalKind, values: Collection[str]
) -> list[tuple[str, EntryRef]]:
    """Exact lookups (MD5, SHA-256, identical PDQ): ``(value, entry)`` for active entries."""
    keys = [dedupe_key(b, signal.value, v) for b in bank_ids for v in values]
    out: list[tuple[str, EntryRef]] = []
    for i in range(0, len(keys), _IN_CHUNK):
        stmt = (
            sa.select(EntryRow.value, EntryRow.seq, EntryRow.id, EntryRow.bank_id, BankRow.name)
            .join(BankRow, BankRow.id == EntryRow.bank_id)
            .where(
                EntryRow.dedupe_key.in_(keys[i : i + _IN_CHUNK]),
                EntryRow.status == EntryStatus.ACTIVE.value,
            )
            .order_by(EntryRow.seq)
        )
        for value, seq, entry_id, bank_id, bank in s.execute(stmt):
            ref = EntryRef(seq=seq, entry_id=entry_id, bank_id=bank_id, bank=bank, signal=signal)
            out.append((value, ref))
    return out


# --- ids ------------------------------------------------------------------------

_CROCKFORD = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", dtype=np.uint8)
_FIVE_BITS = np.array([16, 8, 4, 2, 1], dtype=np.uint8)


def new_ids(prefix: str, n: int) -> list[str]:
    """``n`` ids like :func:`jikimi.ids.new_id`, made together (a bulk import needs 1 M).

    A ULID is 48 bits of milliseconds then 80 random bits, which are exactly the
    last 16 Crockford characters; so the time part is encoded once and the random
    parts all at once with NumPy (~1 µs per id instead of ~8).
    """
    if n <= 0:
        return []
    ms = int(time.time() * 1000)
    head = prefix + "_" + "".join(chr(_CROCKFORD[(ms >> (5 * i)) & 31]) for i in range(9, -1, -1))
    bits = np.unpackbits(np.frombuffer(os.urandom(10 * n), dtype=np.uint8)).reshape(n * 16, 5)
    tail = _CROCKFORD[bits @ _FIVE_BITS].tobytes().decode("ascii")
    return [head + tail[i : i + 16] for i in range(0, 16 * n, 16)]


def iter_variant_sources(s: Session, bank_id: str) -> Iterator[tuple[int, str | None, bool]]:
    """``(seq, media_sha256, has variants)`` of the bank's PDQ entries that are not
    withdrawn, in order: what ``jikimi bank reindex`` computes variants for
    (``media_sha256`` ``None``: only a hash was banked)."""
    stmt = (
        sa.select(EntryRow.seq, EntryRow.media_sha256, EntryRow.variants)
        .where(
            EntryRow.bank_id == bank_id,
            EntryRow.signal == SignalKind.PDQ.value,
            EntryRow.status != EntryStatus.WITHDRAWN.value,
        )
        .order_by(EntryRow.seq)
    )
    yield from ((int(seq), sha, bool(held)) for seq, sha, held in s.execute(stmt))


def set_entry_variants(s: Session, seq: int, variants: str, at: datetime) -> Change | None:
    """Store an entry's variant hashes; an active entry gets an ``add`` change so the
    indexes take them (an add of an indexed entry replaces its hashes)."""
    _lock_entry_writes(s)
    row = s.get_one(EntryRow, seq)
    row.variants = variants or None
    row.updated_at = at
    s.flush()
    if row.status != EntryStatus.ACTIVE.value:
        return None
    (change,) = record_changes(s, [(ChangeOp.ADD, row.seq, row.bank_id, row.signal, row.value)], at)
    return change

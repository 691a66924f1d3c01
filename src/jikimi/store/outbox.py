"""Repository of the outbox: consequences written with their cause, delivered once.

A service that decides something with a consequence outside the database (send a
notice, re-check a URL later) calls :func:`enqueue` in the same transaction, so
the decision and its consequence commit together or not at all. Deliverers in any
process then share the table::

    enqueue ─► pending ──claim──► leased ──complete──► done
                  ▲                 │
                  │  retry (back-off│next_at)            give_up ─► failed
                  └─────────────────┤
                  ▲                 │ lease lapsed (the process died)
                  └──── claim again ┘

``key`` is the idempotency key (``notice:<id>``, ``recheck:<item>:<n>``): a second
enqueue with the same key is a no-op, so a retried request never queues a
consequence twice. Each transition is a conditional ``UPDATE`` naming the state
and lease owner it expects, so two deliverers never both hold a row and a
deliverer whose lease lapsed cannot complete it. What "delivered at most once"
needs beyond that (a mail server that took the message but the process died
before :func:`complete`) is the deliverer's job: it records the attempt first and
the receiving side de-duplicates by the same key (``Message-ID``, an
``Idempotency-Key`` header).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from jikimi.store.case_models import OutboxRow

PENDING, LEASED, DONE, FAILED = "pending", "leased", "done", "failed"


@dataclass(frozen=True)
class OutboxItem:
    id: int
    tenant_id: str
    kind: str
    key: str
    payload: Mapping[str, Any]
    state: str
    attempts: int
    next_at: datetime
    lease_owner: str | None
    last_error: str | None


def _item(row: Any) -> OutboxItem:
    """An ``OutboxRow`` or a row of the table's columns as a value."""
    return OutboxItem(
        id=row.id,
        tenant_id=row.tenant_id,
        kind=row.kind,
        key=row.key,
        payload=row.payload,
        state=row.state,
        attempts=row.attempts,
        next_at=row.next_at,
        lease_owner=row.lease_owner,
        last_error=row.last_error,
    )


def _changed(s: Session, stmt: sa.Update) -> int:
    result = s.execute(stmt.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0))


_TABLE = cast(sa.Table, OutboxRow.__table__)
_HELD = sa.and_(
    _TABLE.c.id == sa.bindparam("row_id"),
    _TABLE.c.state == LEASED,
    _TABLE.c.lease_owner == sa.bindparam("owner"),
)
"""A leased row held by ``owner``: what every transition out of ``leased`` names."""
_COMPLETE = (
    _TABLE.update()
    .where(_HELD)
    .values(state=DONE, done_at=sa.bindparam("now"), lease_owner=None, lease_until=None)
)
_RETRY = (
    _TABLE.update()
    .where(_HELD)
    .values(
        state=PENDING,
        next_at=sa.bindparam("next"),
        last_error=sa.bindparam("error"),
        lease_owner=None,
        lease_until=None,
    )
)
_GIVE_UP = (
    _TABLE.update()
    .where(_HELD)
    .values(
        state=FAILED,
        done_at=sa.bindparam("now"),
        last_error=sa.bindparam("error"),
        lease_owner=None,
        lease_until=None,
    )
)
"""Prebuilt statements on the table (no ORM): a busy deliverer runs thousands of them,
and building and compiling each anew cost more than running it."""


def _insert(s: Session, returning: bool = False) -> Any:
    return _inserts(s.get_bind().dialect.name == "postgresql", returning)


@functools.cache
def _inserts(postgres: bool, returning: bool) -> Any:
    """``INSERT … ON CONFLICT (key) DO NOTHING`` for the dialect, built once."""
    insert = postgresql.insert if postgres else sqlite.insert
    stmt = insert(_TABLE).on_conflict_do_nothing(index_elements=["key"])
    return stmt.returning(_TABLE.c.id) if returning else stmt


def _values(
    tenant_id: str,
    kind: str,
    key: str,
    payload: Mapping[str, Any],
    at: datetime,
    not_before: datetime | None,
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "kind": kind,
        "key": key,
        "payload": dict(payload),
        "state": PENDING,
        "attempts": 0,
        "next_at": not_before or at,
        "created_at": at,
    }


def enqueue(
    s: Session,
    *,
    tenant_id: str,
    kind: str,
    key: str,
    payload: Mapping[str, Any],
    at: datetime,
    not_before: datetime | None = None,
) -> bool:
    """Queue a consequence (in the caller's transaction); ``False`` if ``key`` is queued.

    One ``INSERT … ON CONFLICT (key) DO NOTHING``: no read first, nothing to flush.
    """
    stmt = _insert(s, returning=True)
    row = _values(tenant_id, kind, key, payload, at, not_before)
    return s.execute(stmt, row).scalar() is not None


@dataclass(frozen=True)
class Consequence:
    """One row for :func:`enqueue_many`."""

    tenant_id: str
    kind: str
    key: str
    payload: Mapping[str, Any]
    not_before: datetime | None = None


def enqueue_many(s: Session, rows: Sequence[Consequence], at: datetime) -> None:
    """:func:`enqueue` for several rows in one statement (keys already queued are skipped)."""
    if rows:
        s.execute(
            _insert(s),
            [_values(r.tenant_id, r.kind, r.key, r.payload, at, r.not_before) for r in rows],
        )


def claim(
    s: Session, owner: str, now: datetime, lease: timedelta, kinds: tuple[str, ...] | None = None
) -> OutboxItem | None:
    """Lease the next due row (pending and due, or leased with a lapsed lease)."""
    taken = claim_many(s, owner, now, lease, kinds, limit=1)
    return taken[0] if taken else None


def claim_many(
    s: Session,
    owner: str,
    now: datetime,
    lease: timedelta,
    kinds: tuple[str, ...] | None = None,
    *,
    limit: int = 32,
) -> list[OutboxItem]:
    """Lease up to ``limit`` due rows, oldest due first, in the caller's transaction.

    Pending rows and lapsed leases are looked up apart, each by the ``(state,
    next_at)`` index, so the cost does not grow with the rows already done; the
    lease is taken by one ``UPDATE … RETURNING`` that names the state each row must
    still be in.
    """
    finders, take = _claim_statements(s.get_bind().dialect.name == "postgresql", kinds, limit)
    candidates: list[tuple[datetime, int]] = []
    for finder in finders:
        candidates.extend((at, row_id) for at, row_id in s.execute(finder, {"now": now}))
    ids = [row_id for _, row_id in sorted(candidates)[:limit]]
    if not ids:
        return []
    taken = s.execute(take, {"ids": ids, "now": now, "owner": owner, "until": now + lease})
    order = {row_id: n for n, row_id in enumerate(ids)}
    return [_item(r) for r in sorted(taken, key=lambda r: order[r.id])]


@functools.cache
def _claim_statements(
    postgres: bool, kinds: tuple[str, ...] | None, limit: int
) -> tuple[tuple[sa.Select[Any], ...], sa.UpdateBase]:
    """The finders (pending and due; leased and lapsed) and the taking ``UPDATE``, built
    once per shape: a deliverer polls thousands of times."""
    now: sa.BindParameter[datetime] = sa.bindparam("now")
    pending = sa.and_(_TABLE.c.state == PENDING, _TABLE.c.next_at <= now)
    lapsed = sa.and_(_TABLE.c.state == LEASED, _TABLE.c.lease_until < now)
    finders = []
    for where in (pending, lapsed):
        query = (
            sa.select(_TABLE.c.next_at, _TABLE.c.id)
            .where(where)
            .order_by(_TABLE.c.next_at, _TABLE.c.id)
            .limit(limit)
        )
        if kinds:
            query = query.where(_TABLE.c.kind.in_(kinds))
        if postgres:
            query = query.with_for_update(skip_locked=True)
        finders.append(query)
    take = (
        _TABLE.update()
        .where(_TABLE.c.id.in_(sa.bindparam("ids", expanding=True)), sa.or_(pending, lapsed))
        .values(
            state=LEASED,
            lease_owner=sa.bindparam("owner"),
            lease_until=sa.bindparam("until"),
            attempts=_TABLE.c.attempts + 1,
        )
        .returning(*_TABLE.c)
    )
    return tuple(finders), take


def complete(s: Session, item_id: int, owner: str, now: datetime) -> bool:
    """Mark a leased row done; ``False`` if the lease was lost meanwhile."""
    result = s.execute(_COMPLETE, {"row_id": item_id, "owner": owner, "now": now})
    return bool(getattr(result, "rowcount", 0))


def complete_many(s: Session, item_ids: Sequence[int], owner: str, now: datetime) -> set[int]:
    """Mark leased rows done in one statement; the ids whose lease was still ours."""
    if not item_ids:
        return set()
    done = s.execute(
        _TABLE.update()
        .where(
            _TABLE.c.id.in_(list(item_ids)),
            _TABLE.c.state == LEASED,
            _TABLE.c.lease_owner == owner,
        )
        .values(state=DONE, done_at=now, lease_owner=None, lease_until=None)
        .returning(_TABLE.c.id)
    )
    return {int(row_id) for row_id in done.scalars()}


def retry(s: Session, item_id: int, owner: str, error: str, next_at: datetime) -> bool:
    """Give a leased row back, due again at ``next_at`` (back-off)."""
    params = {"row_id": item_id, "owner": owner, "next": next_at, "error": error[:2000]}
    return bool(getattr(s.execute(_RETRY, params), "rowcount", 0))


def give_up(s: Session, item_id: int, owner: str, error: str, now: datetime) -> bool:
    """Fail a leased row for good (attempts used up, or a permanent error)."""
    params = {"row_id": item_id, "owner": owner, "now": now, "error": error[:2000]}
    return bool(getattr(s.execute(_GIVE_UP, params), "rowcount", 0))


def get(s: Session, key: str) -> OutboxItem | None:
    row = s.scalar(sa.select(OutboxRow).where(OutboxRow.key == key))
    return None if row is None else _item(row)


def anything_due(s: Session, now: datetime, kinds: tuple[str, ...] | None = None) -> bool:
    """Is any row (of ``kinds``) claimable now? A read, so an idle poller takes no
    write lock: a runner asks this before it claims.

    It asks with :func:`claim_many`'s finders (pending rows and lapsed leases apart,
    each by the ``(state, next_at)`` index; without ``FOR UPDATE``, as it only reads):
    one query with both under an ``OR`` reads the whole table, done rows included.
    """
    finders, _ = _claim_statements(False, kinds, 1)
    return any(s.execute(finder, {"now": now}).first() is not None for finder in finders)

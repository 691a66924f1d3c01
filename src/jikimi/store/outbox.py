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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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


def _item(row: OutboxRow) -> OutboxItem:
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
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(OutboxRow)
        .values(
            tenant_id=tenant_id,
            kind=kind,
            key=key,
            payload=dict(payload),
            state=PENDING,
            attempts=0,
            next_at=not_before or at,
            created_at=at,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(OutboxRow.id)
    )
    return s.execute(stmt).scalar() is not None


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
    next_at)`` index, so the cost does not grow with the rows already done.
    """
    due = sa.or_(
        sa.and_(OutboxRow.state == PENDING, OutboxRow.next_at <= now),
        sa.and_(OutboxRow.state == LEASED, OutboxRow.lease_until < now),
    )
    postgres = s.get_bind().dialect.name == "postgresql"
    candidates: list[tuple[datetime, int]] = []
    for where in (
        sa.and_(OutboxRow.state == PENDING, OutboxRow.next_at <= now),
        sa.and_(OutboxRow.state == LEASED, OutboxRow.lease_until < now),
    ):
        query = (
            sa.select(OutboxRow.next_at, OutboxRow.id)
            .where(where)
            .order_by(OutboxRow.next_at, OutboxRow.id)
            .limit(limit)
        )
        if kinds:
            query = query.where(OutboxRow.kind.in_(kinds))
        if postgres:
            query = query.with_for_update(skip_locked=True)
        candidates.extend((at, row_id) for at, row_id in s.execute(query))
    ids = [row_id for _, row_id in sorted(candidates)[:limit]]
    if not ids:
        return []
    _changed(
        s,
        sa.update(OutboxRow)
        .where(OutboxRow.id.in_(ids), due)
        .values(
            state=LEASED,
            lease_owner=owner,
            lease_until=now + lease,
            attempts=OutboxRow.attempts + 1,
        ),
    )
    rows = s.scalars(
        sa.select(OutboxRow)
        .where(OutboxRow.id.in_(ids), OutboxRow.lease_owner == owner, OutboxRow.state == LEASED)
        .execution_options(populate_existing=True)
    ).all()
    order = {row_id: n for n, row_id in enumerate(ids)}
    return [_item(r) for r in sorted(rows, key=lambda r: order[r.id])]


def complete(s: Session, item_id: int, owner: str, now: datetime) -> bool:
    """Mark a leased row done; ``False`` if the lease was lost meanwhile."""
    return bool(
        _changed(
            s,
            sa.update(OutboxRow)
            .where(
                OutboxRow.id == item_id, OutboxRow.state == LEASED, OutboxRow.lease_owner == owner
            )
            .values(state=DONE, done_at=now, lease_owner=None, lease_until=None),
        )
    )


def retry(s: Session, item_id: int, owner: str, error: str, next_at: datetime) -> bool:
    """Give a leased row back, due again at ``next_at`` (back-off)."""
    return bool(
        _changed(
            s,
            sa.update(OutboxRow)
            .where(
                OutboxRow.id == item_id, OutboxRow.state == LEASED, OutboxRow.lease_owner == owner
            )
            .values(
                state=PENDING,
                next_at=next_at,
                last_error=error[:2000],
                lease_owner=None,
                lease_until=None,
            ),
        )
    )


def give_up(s: Session, item_id: int, owner: str, error: str, now: datetime) -> bool:
    """Fail a leased row for good (attempts used up, or a permanent error)."""
    return bool(
        _changed(
            s,
            sa.update(OutboxRow)
            .where(
                OutboxRow.id == item_id, OutboxRow.state == LEASED, OutboxRow.lease_owner == owner
            )
            .values(
                state=FAILED,
                done_at=now,
                last_error=error[:2000],
                lease_owner=None,
                lease_until=None,
            ),
        )
    )


def get(s: Session, key: str) -> OutboxItem | None:
    row = s.scalar(sa.select(OutboxRow).where(OutboxRow.key == key))
    return None if row is None else _item(row)


def anything_due(s: Session, now: datetime) -> bool:
    """Is any row claimable now? (A read, so an idle poller takes no write lock.)"""
    due = sa.or_(
        sa.and_(OutboxRow.state == PENDING, OutboxRow.next_at <= now),
        sa.and_(OutboxRow.state == LEASED, OutboxRow.lease_until < now),
    )
    return s.scalar(sa.select(OutboxRow.id).where(due).limit(1)) is not None

"""Repository of the audit log: append under the head lock, read in ``seq`` order.

:func:`append` is called inside the transaction that makes the change it records,
so a change and its audit row commit or roll back together. It locks the single
``audit_head`` row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite write
transactions are already exclusive), so concurrent writers line up and sequence
numbers have no gaps.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jikimi.audit.chain import AuditEntry, seal
from jikimi.store.case_models import AuditHeadRow, AuditRow


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        tenant_id=row.tenant_id,
        actor=row.actor,
        entity=row.entity,
        entity_id=row.entity_id,
        action=row.action,
        data=row.data,
        prev=row.prev,
        digest=row.digest,
    )


_HEAD_KEY = "jikimi.audit_head"


def append(
    s: Session,
    *,
    tenant_id: str,
    actor: str,
    entity: str,
    entity_id: str,
    action: str,
    data: Mapping[str, Any],
    at: datetime,
) -> AuditEntry:
    """Record one change at the end of the chain (in the caller's transaction).

    The head row is read (and locked) once per transaction: a transaction that
    records many changes (a batch of re-checks) holds the lock already and knows
    the head it wrote last.
    """
    tx = s.get_transaction()
    cached = s.info.get(_HEAD_KEY)
    if cached is not None and cached[0] is tx:
        head = cached[1]
    else:
        head = s.scalar(sa.select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update())
        if head is None:  # a database made by create_all in a test, not by the migration
            head = AuditHeadRow(id=1, seq=0, digest="0" * 64)
            s.add(head)
            s.flush()
        s.info[_HEAD_KEY] = (tx, head)
    entry = seal(
        AuditEntry(
            seq=head.seq + 1,
            at=at,
            tenant_id=tenant_id,
            actor=actor,
            entity=entity,
            entity_id=entity_id,
            action=action,
            data=dict(data),
            prev=head.digest,
        )
    )
    s.add(
        AuditRow(
            seq=entry.seq,
            at=entry.at,
            tenant_id=entry.tenant_id,
            actor=entry.actor,
            entity=entry.entity,
            entity_id=entry.entity_id,
            action=entry.action,
            data=dict(entry.data),
            prev=entry.prev,
            digest=entry.digest,
        )
    )
    head.seq = entry.seq
    head.digest = entry.digest
    return entry  # written by the next flush (a query in the transaction, or the commit)


def iter_all(s: Session, page: int = 1000) -> Iterator[AuditEntry]:
    """Every entry in ``seq`` order, read a page at a time."""
    after = 0
    while True:
        rows = s.scalars(
            sa.select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq).limit(page)
        ).all()
        if not rows:
            return
        for row in rows:
            yield _entry(row)
        after = rows[-1].seq


def history(
    s: Session, tenant_id: str, entity: str, entity_id: str, limit: int = 1000
) -> list[AuditEntry]:
    """One thing's entries, oldest first (only the tenant's own)."""
    rows = s.scalars(
        sa.select(AuditRow)
        .where(
            AuditRow.tenant_id == tenant_id,
            AuditRow.entity == entity,
            AuditRow.entity_id == entity_id,
        )
        .order_by(AuditRow.seq)
        .limit(limit)
    )
    return [_entry(r) for r in rows]


def head(s: Session) -> tuple[int, str]:
    """The newest ``seq`` and digest (``(0, GENESIS)`` for an empty log)."""
    row = s.get(AuditHeadRow, 1)
    return (0, "0" * 64) if row is None else (row.seq, row.digest)

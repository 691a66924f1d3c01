"""Repository of the audit log: append under the head lock, read in ``seq`` order.

:func:`append` is called inside the transaction that makes the change it records,
so a change and its audit row commit or roll back together. It locks the single
``audit_head`` row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite write
transactions are already exclusive), so concurrent writers line up and sequence
numbers have no gaps.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jikimi.audit.chain import GENESIS, AuditEntry, seal
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
_ROWS = cast(sa.Table, AuditRow.__table__)
_HEADS = cast(sa.Table, AuditHeadRow.__table__)
_INSERT_ROW = _ROWS.insert()
_MOVE_HEAD = (
    _HEADS.update()
    .where(_HEADS.c.id == 1)
    .values(seq=sa.bindparam("new_seq"), digest=sa.bindparam("new_digest"))
)
_READ_HEAD = sa.select(_HEADS.c.seq, _HEADS.c.digest).where(_HEADS.c.id == 1).with_for_update()


@dataclass(frozen=True)
class Change:
    """One change to record, for :func:`append_many`."""

    tenant_id: str
    actor: str
    entity: str
    entity_id: str
    action: str
    data: Mapping[str, Any]
    at: datetime


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
    """Record one change at the end of the chain (in the caller's transaction)."""
    change = Change(tenant_id, actor, entity, entity_id, action, data, at)
    return append_many(s, [change])[0]


def append_many(s: Session, changes: Sequence[Change]) -> list[AuditEntry]:
    """Record changes in order at the end of the chain (in the caller's transaction).

    Plain statements (insert the rows, move the head), no ORM unit of work: a busy
    loop writes thousands of rows, and flushing each through the ORM cost more than
    the change it recorded. The head is read (and locked) once per transaction; a
    savepoint reads it again, so rows a rolled-back savepoint wrote are never
    chained onto.
    """
    if not changes:
        return []
    tx = s.get_nested_transaction() or s.get_transaction()
    cached = s.info.get(_HEAD_KEY)
    if cached is not None and cached[0] is tx:
        seq, digest = cached[1], cached[2]
    else:
        found = s.execute(_READ_HEAD).first()
        if found is None:  # a database made by create_all in a test, not by the migration
            s.execute(_HEADS.insert(), {"id": 1, "seq": 0, "digest": GENESIS})
            seq, digest = 0, GENESIS
        else:
            seq, digest = int(found.seq), str(found.digest)
    entries = []
    for change in changes:
        entry = seal(
            AuditEntry(
                seq=seq + 1,
                at=change.at,
                tenant_id=change.tenant_id,
                actor=change.actor,
                entity=change.entity,
                entity_id=change.entity_id,
                action=change.action,
                data=dict(change.data),
                prev=digest,
            )
        )
        entries.append(entry)
        seq, digest = entry.seq, entry.digest
    s.execute(
        _INSERT_ROW,
        [
            {
                "seq": e.seq,
                "at": e.at,
                "tenant_id": e.tenant_id,
                "actor": e.actor,
                "entity": e.entity,
                "entity_id": e.entity_id,
                "action": e.action,
                "data": dict(e.data),
                "prev": e.prev,
                "digest": e.digest,
            }
            for e in entries
        ],
    )
    s.execute(_MOVE_HEAD, {"new_seq": seq, "new_digest": digest})
    s.info[_HEAD_KEY] = (tx, seq, digest)
    return entries


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
    row = s.execute(sa.select(_HEADS.c.seq, _HEADS.c.digest).where(_HEADS.c.id == 1)).first()
    return (0, GENESIS) if row is None else (int(row.seq), str(row.digest))

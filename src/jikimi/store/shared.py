"""Repository of ``shared_state``: leases, watermarks and key fingerprints (one table).

::

    take_lease(name, owner) ─► held until ``until`` ─► renew (take_lease again)
        another owner's take succeeds only once the lease has lapsed
    save_if_held(name, value, lease, owner): the write is fenced by the lease,
        so a process that lost its lease (paused, then resumed) cannot move a
        watermark its successor already moved
    pin(name, value): the first process to start writes it; every later one
        reads what is there (key fingerprints)

Each transition is one conditional statement whose row count says whether it
happened, as for jobs and the outbox; a row is created with an insert that
ignores a conflict (``ON CONFLICT DO NOTHING`` on both databases), so two
processes creating it at once both succeed and agree on one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from jikimi.store.shared_models import AttemptFailureRow, SharedStateRow


def _changed(s: Session, stmt: sa.Update) -> int:
    result = s.execute(stmt.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0))


def _create(s: Session, name: str, at: datetime, value: str | None = None) -> None:
    """The row ``name`` exists afterwards (whoever made it)."""
    values = {"name": name, "value": value, "owner": None, "lease_until": None, "updated_at": at}
    if s.get_bind().dialect.name == "postgresql":
        s.execute(postgresql.insert(SharedStateRow).values(**values).on_conflict_do_nothing())
    else:
        s.execute(sqlite.insert(SharedStateRow).values(**values).on_conflict_do_nothing())


def take_lease(s: Session, name: str, owner: str, at: datetime, until: datetime) -> bool:
    """Take or renew the lease ``name`` for ``owner`` until ``until``; ``False`` if another
    owner holds it (and it has not lapsed)."""
    _create(s, name, at)
    free = sa.or_(
        SharedStateRow.owner.is_(None),
        SharedStateRow.owner == owner,
        SharedStateRow.lease_until < at,
    )
    stmt = (
        sa.update(SharedStateRow)
        .where(SharedStateRow.name == name, free)
        .values(owner=owner, lease_until=until, updated_at=at)
    )
    return _changed(s, stmt) == 1


def release_lease(s: Session, name: str, owner: str, at: datetime) -> bool:
    """Give the lease up (shutdown), so another process need not wait for it to lapse."""
    stmt = (
        sa.update(SharedStateRow)
        .where(SharedStateRow.name == name, SharedStateRow.owner == owner)
        .values(owner=None, lease_until=None, updated_at=at)
    )
    return _changed(s, stmt) == 1


def lease_owner(s: Session, name: str, at: datetime) -> str | None:
    """Who holds the lease now (``None``: nobody, or it lapsed)."""
    row = s.get(SharedStateRow, name)
    if row is None or row.owner is None or row.lease_until is None or row.lease_until < at:
        return None
    return row.owner


def get_value(s: Session, name: str) -> str | None:
    row = s.get(SharedStateRow, name)
    return None if row is None else row.value


def set_value(s: Session, name: str, value: str, at: datetime) -> None:
    """Write ``value`` whoever holds what (for values no lease guards)."""
    _create(s, name, at, value)
    s.execute(
        sa.update(SharedStateRow)
        .where(SharedStateRow.name == name)
        .values(value=value, updated_at=at)
        .execution_options(synchronize_session=False)
    )


def save_if_held(s: Session, name: str, value: str, lease: str, owner: str, at: datetime) -> bool:
    """Write ``value`` only while ``owner`` holds ``lease`` (not lapsed); ``False`` otherwise.

    The lease row is locked first (an ``UPDATE`` of itself), so the check and the
    write are one step against a concurrent take-over.
    """
    held = _changed(
        s,
        sa.update(SharedStateRow)
        .where(
            SharedStateRow.name == lease,
            SharedStateRow.owner == owner,
            SharedStateRow.lease_until >= at,
        )
        .values(updated_at=at),
    )
    if not held:
        return False
    set_value(s, name, value, at)
    return True


def pin(s: Session, name: str, value: str, at: datetime) -> str:
    """Record ``value`` under ``name`` unless something is recorded; what is recorded."""
    _create(s, name, at, value)
    stored = s.scalar(sa.select(SharedStateRow.value).where(SharedStateRow.name == name))
    return value if stored is None else stored


# --- failed attempts (rate limits every replica shares) -------------------------------


def failures_since(s: Session, keys: Sequence[str], since: datetime) -> int:
    """The most failures any of ``keys`` has had since ``since``."""
    stmt = (
        sa.select(sa.func.count())
        .select_from(AttemptFailureRow)
        .where(AttemptFailureRow.key.in_(keys), AttemptFailureRow.at >= since)
        .group_by(AttemptFailureRow.key)
    )
    return max(s.scalars(stmt).all(), default=0)


def add_failures(s: Session, keys: Sequence[str], at: datetime) -> None:
    s.add_all(AttemptFailureRow(key=key, at=at) for key in keys)
    s.flush()


def forget_failures(s: Session, before: datetime) -> int:
    """Drop failures older than any window looks back (keeps the table small)."""
    result = s.execute(
        sa.delete(AttemptFailureRow)
        .where(AttemptFailureRow.at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))

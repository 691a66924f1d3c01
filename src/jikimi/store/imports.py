"""Repository of bank imports: one row per import, leased while it runs.

::

    create_import ─► running ──finish(done)──► done
                       │  ▲ └──finish(failed)──► failed ─┐
                       │  │                              │
      lease lapsed ────┤  └────── claim_resume ◄─────────┤
      (process died)   ▼                                 │
                   interrupted ──────────────────────────┘

A running import's process renews its lease (``lease_until``) while it works and
writes its progress (:func:`record_progress`) in the transaction of each page of
entries. If the process dies the lease lapses: from then on every reader sees
the import as ``interrupted`` (:func:`_effective_state`), whichever process
reads, without anyone having to notice the death first; :func:`mark_interrupted`
also writes that state down. Every transition is a conditional ``UPDATE`` whose
``WHERE`` names the state and lease owner it expects, so two processes never
resume the same import, and a process that lost its lease cannot write progress
(its page rolls back).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jikimi.domain import BankImport, ErrorInfo, ImportState, RowError, RowFormat
from jikimi.ids import new_id
from jikimi.store.models import BankImportRow, BankRow

_RUNNING = ImportState.RUNNING.value
_RESUMABLE = (ImportState.INTERRUPTED.value, ImportState.FAILED.value)


def _effective_state(row: BankImportRow, at: datetime) -> ImportState:
    """A running import whose lease has lapsed at ``at`` is interrupted: its process is gone."""
    if row.state == _RUNNING and (row.lease_until is None or row.lease_until < at):
        return ImportState.INTERRUPTED
    return ImportState(row.state)


def _record(row: BankImportRow, bank: str, at: datetime) -> BankImport:
    return BankImport(
        id=row.id,
        tenant_id=row.tenant_id,
        bank_id=row.bank_id,
        bank=bank,
        key_id=row.key_id,
        file_sha256=row.file_sha256,
        file_bytes=row.file_bytes,
        format=RowFormat(row.format),
        source=row.source,
        state=_effective_state(row, at),
        rows=row.rows_done,
        added=row.added,
        duplicates=row.duplicates,
        error_count=row.error_count,
        errors=tuple(RowError.model_validate(e) for e in row.errors),
        failure=None if row.failure is None else ErrorInfo.model_validate(row.failure),
        runs=row.runs,
        started_at=row.started_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )


def _changed(s: Session, stmt: sa.Update) -> int:
    """Run an UPDATE; the number of rows it changed."""
    result = s.execute(stmt.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0))


def _held(import_id: str, owner: str) -> sa.ColumnElement[bool]:
    """The import is running under ``owner``'s lease (lapsed or not: nobody took it over)."""
    return sa.and_(
        BankImportRow.id == import_id,
        BankImportRow.state == _RUNNING,
        BankImportRow.lease_owner == owner,
    )


def _with_bank() -> sa.Select[BankImportRow, str]:
    return sa.select(BankImportRow, BankRow.name).join(BankRow, BankRow.id == BankImportRow.bank_id)


def errors_json(errors: Sequence[RowError]) -> list[dict[str, Any]]:
    return [e.model_dump(mode="json") for e in errors]


# --- start and read -------------------------------------------------------------------


def create_import(
    s: Session,
    *,
    tenant_id: str,
    bank_id: str,
    key_id: str,
    file_sha256: str,
    file_bytes: int,
    fmt: RowFormat,
    source: str | None,
    owner: str,
    lease_until: datetime,
    at: datetime,
) -> str:
    """A running import held by ``owner``; its id (``imp_…``)."""
    row = BankImportRow(
        id=new_id("imp"),
        tenant_id=tenant_id,
        bank_id=bank_id,
        key_id=key_id,
        file_sha256=file_sha256,
        file_bytes=file_bytes,
        format=fmt.value,
        source=source,
        state=_RUNNING,
        rows_done=0,
        added=0,
        duplicates=0,
        error_count=0,
        errors=[],
        failure=None,
        runs=1,
        lease_owner=owner,
        lease_until=lease_until,
        started_at=at,
        updated_at=at,
        finished_at=None,
    )
    s.add(row)
    s.flush()
    return row.id


def get_import(s: Session, tenant_id: str, import_id: str, at: datetime) -> BankImport | None:
    """The tenant's import as it stands at ``at``; ``None`` if none (or another tenant's)."""
    found = s.execute(
        _with_bank().where(BankImportRow.id == import_id, BankImportRow.tenant_id == tenant_id)
    ).one_or_none()
    return None if found is None else _record(found[0], found[1], at)


def list_imports(
    s: Session, tenant_id: str, bank_id: str, at: datetime, limit: int
) -> list[BankImport]:
    """The tenant's imports into the bank, newest first."""
    stmt = (
        _with_bank()
        .where(BankImportRow.tenant_id == tenant_id, BankImportRow.bank_id == bank_id)
        .order_by(BankImportRow.started_at.desc(), BankImportRow.id.desc())
        .limit(limit)
    )
    return [_record(row, name, at) for row, name in s.execute(stmt)]


def latest_unfinished(
    s: Session, tenant_id: str, bank_id: str, file_sha256: str, at: datetime
) -> BankImport | None:
    """The newest import of this file into the bank that is not done, if any."""
    stmt = (
        _with_bank()
        .where(
            BankImportRow.tenant_id == tenant_id,
            BankImportRow.bank_id == bank_id,
            BankImportRow.file_sha256 == file_sha256,
            BankImportRow.state != ImportState.DONE.value,
        )
        .order_by(BankImportRow.started_at.desc(), BankImportRow.id.desc())
        .limit(1)
    )
    found = s.execute(stmt).one_or_none()
    return None if found is None else _record(found[0], found[1], at)


# --- the running import -------------------------------------------------------------


def record_progress(
    s: Session,
    import_id: str,
    owner: str,
    *,
    rows_done: int,
    added: int,
    duplicates: int,
    error_count: int,
    errors: Sequence[RowError] | None,
    lease_until: datetime,
    at: datetime,
) -> bool:
    """Write how far the import got (``errors=None``: unchanged) and renew the lease.

    Called in the transaction that commits the page; ``False`` if ``owner`` no
    longer holds the import (the caller must roll the page back).
    """
    values: dict[str, Any] = {
        "rows_done": rows_done,
        "added": added,
        "duplicates": duplicates,
        "error_count": error_count,
        "lease_until": lease_until,
        "updated_at": at,
    }
    if errors is not None:
        values["errors"] = errors_json(errors)
    return _changed(s, sa.update(BankImportRow).where(_held(import_id, owner)).values(values)) == 1


def renew_lease(s: Session, import_id: str, owner: str, lease_until: datetime) -> bool:
    """Extend ``owner``'s lease; ``False`` if it no longer holds the import."""
    stmt = sa.update(BankImportRow).where(_held(import_id, owner)).values(lease_until=lease_until)
    return _changed(s, stmt) == 1


def finish(
    s: Session,
    import_id: str,
    owner: str,
    state: ImportState,
    *,
    failure: ErrorInfo | None,
    at: datetime,
) -> bool:
    """End ``owner``'s run as done, failed or interrupted (the counts stay as recorded:
    what the last committed page wrote). ``False`` if ``owner`` no longer holds it."""
    stmt = (
        sa.update(BankImportRow)
        .where(_held(import_id, owner))
        .values(
            state=state.value,
            failure=None if failure is None else failure.model_dump(mode="json"),
            lease_owner=None,
            lease_until=None,
            updated_at=at,
            finished_at=at if state is ImportState.DONE else None,
        )
    )
    return _changed(s, stmt) == 1


def claim_resume(
    s: Session, tenant_id: str, import_id: str, owner: str, lease_until: datetime, at: datetime
) -> bool:
    """Take over an interrupted or failed import (or one whose lease lapsed) for ``owner``."""
    lapsed = sa.and_(
        BankImportRow.state == _RUNNING,
        sa.or_(BankImportRow.lease_until.is_(None), BankImportRow.lease_until < at),
    )
    stmt = (
        sa.update(BankImportRow)
        .where(
            BankImportRow.id == import_id,
            BankImportRow.tenant_id == tenant_id,
            sa.or_(BankImportRow.state.in_(_RESUMABLE), lapsed),
        )
        .values(
            state=_RUNNING,
            lease_owner=owner,
            lease_until=lease_until,
            runs=BankImportRow.runs + 1,
            failure=None,
            updated_at=at,
        )
    )
    return _changed(s, stmt) == 1


def mark_interrupted(s: Session, at: datetime) -> list[BankImport]:
    """Write ``interrupted`` on every running import whose lease lapsed before ``at``."""
    lapsed = sa.and_(
        BankImportRow.state == _RUNNING,
        sa.or_(BankImportRow.lease_until.is_(None), BankImportRow.lease_until < at),
    )
    found = [(row, name) for row, name in s.execute(_with_bank().where(lapsed))]
    marked = []
    for row, name in found:
        stmt = (
            sa.update(BankImportRow)
            .where(BankImportRow.id == row.id, lapsed)
            .values(
                state=ImportState.INTERRUPTED.value,
                lease_owner=None,
                lease_until=None,
                updated_at=at,
            )
        )
        if _changed(s, stmt) == 1:
            marked.append(_record(row, name, at))
    return marked

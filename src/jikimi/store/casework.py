"""Repository of hosts, cases, items, notices and sources: rows in, value types out.

Never commits: the casework services own the transactions (and write the audit
row of each change in the same one). Every query names the tenant, so a caller
of one tenant can never reach another's rows through here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jikimi.cases.lifecycle import CaseStatus, ItemStatus, NoticeState
from jikimi.cases.types import Case, Contact, Host, Item, Notice, Regulator, Source
from jikimi.errors import Conflict
from jikimi.ids import new_id
from jikimi.store.case_models import (
    CaseRow,
    HostRow,
    ItemRow,
    NoticeRow,
    SourceRow,
    SourceScanRow,
)

# --- conversions -----------------------------------------------------------------------


def _host(row: HostRow) -> Host:
    return Host(
        id=row.id,
        tenant_id=row.tenant_id,
        slug=row.slug,
        name=row.name,
        language=row.language,
        jurisdiction=row.jurisdiction,
        contacts=tuple(Contact.model_validate(c) for c in row.contacts),
        bases=tuple(row.bases),
        has_api_secret=row.api_secret_sealed is not None,
        removal_markers=tuple(row.removal_markers),
        regulator=None if row.regulator is None else Regulator.model_validate(row.regulator),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _case(row: CaseRow) -> Case:
    return Case(
        id=row.id,
        tenant_id=row.tenant_id,
        number=row.number,
        title=row.title,
        status=CaseStatus(row.status),
        language=row.language,
        has_victim_contact=row.victim_contact_sealed is not None,
        takedown_bank_id=row.takedown_bank_id,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        closed_at=row.closed_at,
    )


def _item(row: ItemRow) -> Item:
    return Item(
        id=row.id,
        tenant_id=row.tenant_id,
        case_id=row.case_id,
        host_id=row.host_id,
        source_id=row.source_id,
        url=row.url,
        status=ItemStatus(row.status),
        signals=tuple(dict(s) for s in row.signals),
        evidence_sha256=row.evidence_sha256,
        capture=row.capture,
        scan_id=row.scan_id,
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        notified_at=row.notified_at,
        deadline_at=row.deadline_at,
        removed_at=row.removed_at,
        reappeared_at=row.reappeared_at,
        last_checked_at=row.last_checked_at,
        check_count=row.check_count,
        escalated_at=row.escalated_at,
    )


def _notice(row: NoticeRow) -> Notice:
    return Notice(
        id=row.id,
        tenant_id=row.tenant_id,
        case_id=row.case_id,
        host_id=row.host_id,
        state=NoticeState(row.state),
        bases=tuple(row.bases),
        language=row.language,
        language_fallback=row.language_fallback,
        subject=row.subject,
        body=row.body,
        item_ids=tuple(row.item_ids),
        channel=row.channel,
        drafted_by=row.drafted_by,
        approved_by=row.approved_by,
        failure=row.failure,
        copy_to=None if row.copy_to is None else Regulator.model_validate(row.copy_to),
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
        deadline_at=row.deadline_at,
    )


def _source(row: SourceRow) -> Source:
    return Source(
        id=row.id,
        tenant_id=row.tenant_id,
        host_id=row.host_key or None,
        handle=row.handle,
        created_at=row.created_at,
    )


# --- hosts -------------------------------------------------------------------------------


def create_host(
    s: Session,
    *,
    tenant_id: str,
    slug: str,
    name: str,
    language: str,
    jurisdiction: str | None,
    contacts: Sequence[Contact],
    bases: Sequence[str],
    api_secret_sealed: bytes | None,
    removal_markers: Sequence[str],
    at: datetime,
    regulator: Regulator | None = None,
) -> Host:
    if get_host_row(s, tenant_id, slug) is not None:
        raise Conflict(f"a host called {slug!r} already exists")
    row = HostRow(
        id=new_id("host"),
        tenant_id=tenant_id,
        slug=slug,
        name=name,
        language=language,
        jurisdiction=jurisdiction,
        contacts=[c.model_dump(mode="json") for c in contacts],
        bases=list(bases),
        api_secret_sealed=api_secret_sealed,
        removal_markers=list(removal_markers),
        regulator=None if regulator is None else regulator.model_dump(mode="json"),
        created_at=at,
        updated_at=at,
    )
    s.add(row)
    try:
        s.flush()
    except IntegrityError:
        raise Conflict(f"a host called {slug!r} already exists") from None
    return _host(row)


def get_host_row(s: Session, tenant_id: str, slug_or_id: str) -> HostRow | None:
    return s.scalar(
        sa.select(HostRow).where(
            HostRow.tenant_id == tenant_id,
            sa.or_(HostRow.slug == slug_or_id, HostRow.id == slug_or_id),
        )
    )


def get_host(s: Session, tenant_id: str, slug_or_id: str) -> Host | None:
    row = get_host_row(s, tenant_id, slug_or_id)
    return None if row is None else _host(row)


def host_secret(s: Session, tenant_id: str, host_id: str) -> bytes | None:
    row = get_host_row(s, tenant_id, host_id)
    return None if row is None else row.api_secret_sealed


def list_hosts(s: Session, tenant_id: str) -> list[Host]:
    rows = s.scalars(
        sa.select(HostRow).where(HostRow.tenant_id == tenant_id).order_by(HostRow.slug)
    )
    return [_host(r) for r in rows]


# --- cases ---------------------------------------------------------------------------------


def create_case(
    s: Session,
    *,
    tenant_id: str,
    number: str,
    title: str,
    language: str,
    victim_contact_sealed: bytes | None,
    pin_hash: str,
    takedown_bank_id: str | None,
    created_by: str,
    at: datetime,
) -> Case:
    row = CaseRow(
        id=new_id("case"),
        tenant_id=tenant_id,
        number=number,
        title=title,
        status=CaseStatus.OPEN.value,
        language=language,
        victim_contact_sealed=victim_contact_sealed,
        pin_hash=pin_hash,
        takedown_bank_id=takedown_bank_id,
        created_by=created_by,
        created_at=at,
        updated_at=at,
    )
    s.add(row)
    s.flush()
    return _case(row)


def get_case_row(s: Session, tenant_id: str, case_id: str) -> CaseRow | None:
    return s.scalar(sa.select(CaseRow).where(CaseRow.tenant_id == tenant_id, CaseRow.id == case_id))


def get_case(s: Session, tenant_id: str, case_id: str) -> Case | None:
    row = get_case_row(s, tenant_id, case_id)
    return None if row is None else _case(row)


def get_case_by_number(s: Session, number: str) -> tuple[Case, str] | None:
    """A case and its PIN hash, by number, across tenants (the victim knows no tenant)."""
    row = s.scalar(sa.select(CaseRow).where(CaseRow.number == number))
    return None if row is None else (_case(row), row.pin_hash)


def list_cases(
    s: Session, tenant_id: str, status: CaseStatus | None = None, limit: int = 100
) -> list[Case]:
    query = sa.select(CaseRow).where(CaseRow.tenant_id == tenant_id)
    if status is not None:
        query = query.where(CaseRow.status == status.value)
    rows = s.scalars(query.order_by(CaseRow.created_at.desc()).limit(limit))
    return [_case(r) for r in rows]


def update_case(s: Session, tenant_id: str, case_id: str, at: datetime, **values: Any) -> Case:
    row = get_case_row(s, tenant_id, case_id)
    assert row is not None
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = at
    s.flush()
    return _case(row)


def count_cases(s: Session) -> int:
    return int(s.scalar(sa.select(sa.func.count()).select_from(CaseRow)) or 0)


# --- sources -------------------------------------------------------------------------------


def get_or_create_source(
    s: Session, tenant_id: str, host_id: str | None, handle: str, at: datetime
) -> Source:
    key = host_id or ""
    query = sa.select(SourceRow).where(
        SourceRow.tenant_id == tenant_id, SourceRow.host_key == key, SourceRow.handle == handle
    )
    row = s.scalar(query)
    if row is None:
        row = SourceRow(
            id=new_id("src"), tenant_id=tenant_id, host_key=key, handle=handle, created_at=at
        )
        s.add(row)
        s.flush()
    return _source(row)


def get_source(s: Session, tenant_id: str, source_id: str) -> Source | None:
    row = s.scalar(
        sa.select(SourceRow).where(SourceRow.tenant_id == tenant_id, SourceRow.id == source_id)
    )
    return None if row is None else _source(row)


def find_source(s: Session, tenant_id: str, host_id: str | None, handle: str) -> Source | None:
    row = s.scalar(
        sa.select(SourceRow).where(
            SourceRow.tenant_id == tenant_id,
            SourceRow.host_key == (host_id or ""),
            SourceRow.handle == handle,
        )
    )
    return None if row is None else _source(row)


def link_source_scan(
    s: Session, tenant_id: str, source_id: str, scan_id: str, action: str, at: datetime
) -> None:
    s.add(
        SourceScanRow(
            scan_id=scan_id, tenant_id=tenant_id, source_id=source_id, action=action, created_at=at
        )
    )


def source_scan_actions(s: Session, tenant_id: str, source_id: str) -> dict[str, int]:
    """How many of the source's scans ended in each action (``{"hold": 2, "allow": 5}``)."""
    query = (
        sa.select(SourceScanRow.action, sa.func.count())
        .where(SourceScanRow.tenant_id == tenant_id, SourceScanRow.source_id == source_id)
        .group_by(SourceScanRow.action)
    )
    return {str(action): int(n) for action, n in s.execute(query)}


# --- items ---------------------------------------------------------------------------------


def create_item(s: Session, *, tenant_id: str, case_id: str, at: datetime, **values: Any) -> Item:
    row = ItemRow(
        id=new_id("item"),
        tenant_id=tenant_id,
        case_id=case_id,
        created_at=at,
        updated_at=at,
        check_count=0,
        **values,
    )
    s.add(row)
    s.flush()
    return _item(row)


def get_item_row(s: Session, tenant_id: str, item_id: str) -> ItemRow | None:
    return s.scalar(sa.select(ItemRow).where(ItemRow.tenant_id == tenant_id, ItemRow.id == item_id))


def get_item(s: Session, tenant_id: str, item_id: str) -> Item | None:
    row = get_item_row(s, tenant_id, item_id)
    return None if row is None else _item(row)


def get_items(s: Session, tenant_id: str, item_ids: Sequence[str]) -> dict[str, Item]:
    """Several items of a tenant by id, in one query (the ones that exist)."""
    if not item_ids:
        return {}
    rows = s.scalars(
        sa.select(ItemRow).where(ItemRow.tenant_id == tenant_id, ItemRow.id.in_(list(item_ids)))
    )
    return {r.id: _item(r) for r in rows}


def set_item(s: Session, tenant_id: str, item_id: str, at: datetime, **values: Any) -> None:
    """Update an item's columns with one statement (no read): for batch writers that
    hold the item already and do not read it back in this session."""
    items = cast(sa.Table, ItemRow.__table__)
    s.execute(
        items.update()
        .where(items.c.tenant_id == tenant_id, items.c.id == item_id)
        .values(updated_at=at, **values)
    )


def set_items(
    s: Session, at: datetime, changes: Sequence[tuple[str, str, Mapping[str, Any]]]
) -> None:
    """:func:`set_item` for many ``(tenant, item, values)`` at once: one executemany per
    set of columns (a batch of re-checks writes each item's count and time)."""
    items = cast(sa.Table, ItemRow.__table__)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for tenant_id, item_id, values in changes:
        rows = by_columns.setdefault(tuple(sorted(values)), [])
        rows.append({"_tenant": tenant_id, "_item": item_id, "updated_at": at, **values})
    for columns, rows in by_columns.items():
        statement = (
            items.update()
            .where(items.c.tenant_id == sa.bindparam("_tenant"))
            .where(items.c.id == sa.bindparam("_item"))
            .values({c: sa.bindparam(c) for c in ("updated_at", *columns)})
        )
        s.execute(statement, rows)


def update_item(s: Session, tenant_id: str, item_id: str, at: datetime, **values: Any) -> Item:
    row = get_item_row(s, tenant_id, item_id)
    assert row is not None
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = at
    s.flush()
    return _item(row)


def list_items(
    s: Session,
    tenant_id: str,
    *,
    case_id: str | None = None,
    host_id: str | None = None,
    statuses: Sequence[ItemStatus] | None = None,
    source_id: str | None = None,
) -> list[Item]:
    query = sa.select(ItemRow).where(ItemRow.tenant_id == tenant_id)
    if case_id is not None:
        query = query.where(ItemRow.case_id == case_id)
    if host_id is not None:
        query = query.where(ItemRow.host_id == host_id)
    if source_id is not None:
        query = query.where(ItemRow.source_id == source_id)
    if statuses:
        query = query.where(ItemRow.status.in_([st.value for st in statuses]))
    return [_item(r) for r in s.scalars(query.order_by(ItemRow.created_at, ItemRow.id))]


# --- notices -------------------------------------------------------------------------------


def create_notice(
    s: Session,
    *,
    tenant_id: str,
    case_id: str,
    host_id: str,
    at: datetime,
    notice_id: str | None = None,
    **values: Any,
) -> Notice:
    row = NoticeRow(
        id=notice_id or new_id("notice"),
        tenant_id=tenant_id,
        case_id=case_id,
        host_id=host_id,
        state=NoticeState.DRAFT.value,
        created_at=at,
        updated_at=at,
        **values,
    )
    s.add(row)
    s.flush()
    return _notice(row)


def get_notice_row(s: Session, tenant_id: str, notice_id: str) -> NoticeRow | None:
    return s.scalar(
        sa.select(NoticeRow).where(NoticeRow.tenant_id == tenant_id, NoticeRow.id == notice_id)
    )


def get_notice(s: Session, tenant_id: str, notice_id: str) -> Notice | None:
    row = get_notice_row(s, tenant_id, notice_id)
    return None if row is None else _notice(row)


def update_notice(
    s: Session, tenant_id: str, notice_id: str, at: datetime, **values: Any
) -> Notice:
    row = get_notice_row(s, tenant_id, notice_id)
    assert row is not None
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = at
    s.flush()
    return _notice(row)


def list_notices(s: Session, tenant_id: str, case_id: str | None = None) -> list[Notice]:
    query = sa.select(NoticeRow).where(NoticeRow.tenant_id == tenant_id)
    if case_id is not None:
        query = query.where(NoticeRow.case_id == case_id)
    return [_notice(r) for r in s.scalars(query.order_by(NoticeRow.created_at, NoticeRow.id))]

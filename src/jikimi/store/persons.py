"""Repository of enrolled persons, their sealed templates and their record.

Rows in, value types out, never a commit (services own transactions). Sealed
templates leave this module only through :func:`sealed_templates`, whose one
caller (the person service) opens them into the in-memory index; no value type
carries them, so no door can return them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jikimi.domain import Consent, Person, PersonEvent, PersonEventKind, PersonStatus
from jikimi.store.models import PersonEventRow, PersonRow, PersonTemplateRow


class SealedTemplate(NamedTuple):
    """One stored template, still sealed (see ``jikimi.faces.crypto``)."""

    person_id: str
    tenant_id: str
    key_id: str
    sealed: bytes


class NewTemplate(NamedTuple):
    sealed: bytes
    key_id: str
    photo_sha256: str
    face_px: int


def _person(row: PersonRow, templates: int, events: tuple[PersonEvent, ...] = ()) -> Person:
    return Person(
        id=row.id,
        tenant_id=row.tenant_id,
        case=row.case_id,
        status=PersonStatus(row.status),
        consent=Consent(
            text=row.consent_text, recorded_by=row.consent_by, recorded_at=row.consent_at
        ),
        templates=templates,
        created_at=row.created_at,
        withdrawn_at=row.withdrawn_at,
        withdrawn_by=row.withdrawn_by,
        events=events,
    )


def create_person(
    s: Session,
    *,
    person_id: str,
    tenant_id: str,
    case_id: str | None,
    consent_text: str,
    actor: str,
    templates: list[NewTemplate],
    at: datetime,
) -> Person:
    """A new active person with her sealed templates and the ``enrolled`` event."""
    row = PersonRow(
        id=person_id,
        tenant_id=tenant_id,
        case_id=case_id,
        status=PersonStatus.ACTIVE.value,
        consent_text=consent_text,
        consent_by=actor,
        consent_at=at,
        created_at=at,
        withdrawn_at=None,
        withdrawn_by=None,
    )
    s.add(row)
    s.flush()
    s.add_all(
        PersonTemplateRow(
            person_id=person_id,
            tenant_id=tenant_id,
            sealed=t.sealed,
            key_id=t.key_id,
            photo_sha256=t.photo_sha256,
            face_px=t.face_px,
            created_at=at,
        )
        for t in templates
    )
    add_event(
        s,
        person_id,
        tenant_id,
        PersonEventKind.ENROLLED,
        actor,
        at,
        {"photos": len(templates), "case": case_id, "consent": consent_text},
    )
    s.flush()
    return get_person(s, tenant_id, person_id) or _person(row, len(templates))


def add_event(
    s: Session,
    person_id: str,
    tenant_id: str,
    kind: PersonEventKind,
    actor: str,
    at: datetime,
    detail: dict[str, Any],
) -> None:
    s.add(
        PersonEventRow(
            person_id=person_id,
            tenant_id=tenant_id,
            kind=kind.value,
            actor=actor,
            at=at,
            detail=detail,
        )
    )


def get_person(s: Session, tenant_id: str, person_id: str) -> Person | None:
    """The tenant's person with her record; ``None`` if absent or another tenant's."""
    row = s.get(PersonRow, person_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    count = s.scalar(
        sa.select(sa.func.count())
        .select_from(PersonTemplateRow)
        .where(PersonTemplateRow.person_id == person_id)
    )
    events = tuple(
        PersonEvent(kind=PersonEventKind(e.kind), actor=e.actor, at=e.at, detail=e.detail)
        for e in s.scalars(
            sa.select(PersonEventRow)
            .where(PersonEventRow.person_id == person_id)
            .order_by(PersonEventRow.id)
        )
    )
    return _person(row, int(count or 0), events)


def withdraw(s: Session, tenant_id: str, person_id: str, actor: str, at: datetime) -> int:
    """Delete her templates, mark her withdrawn, record it; returns templates destroyed.

    The caller has checked that she exists, is the tenant's, and is active.
    """
    result = s.execute(sa.delete(PersonTemplateRow).where(PersonTemplateRow.person_id == person_id))
    destroyed = getattr(result, "rowcount", 0)
    s.execute(
        sa.update(PersonRow)
        .where(PersonRow.id == person_id)
        .values(status=PersonStatus.WITHDRAWN.value, withdrawn_at=at, withdrawn_by=actor)
    )
    add_event(
        s,
        person_id,
        tenant_id,
        PersonEventKind.WITHDRAWN,
        actor,
        at,
        {"templates_destroyed": int(destroyed or 0)},
    )
    s.flush()
    return int(destroyed or 0)


def lock_person(s: Session, tenant_id: str, person_id: str) -> PersonStatus | None:
    """Her status, with the row locked for update (PostgreSQL; SQLite writes serialise)."""
    row = s.scalar(
        sa.select(PersonRow)
        .where(PersonRow.id == person_id, PersonRow.tenant_id == tenant_id)
        .with_for_update()
    )
    return None if row is None else PersonStatus(row.status)


def sealed_templates(
    s: Session, tenant_id: str, person_id: str | None = None
) -> Iterator[SealedTemplate]:
    """Every template of the tenant's active persons (or of one), still sealed (streamed)."""
    query = (
        sa.select(
            PersonTemplateRow.person_id,
            PersonTemplateRow.tenant_id,
            PersonTemplateRow.key_id,
            PersonTemplateRow.sealed,
        )
        .join(PersonRow, PersonRow.id == PersonTemplateRow.person_id)
        .where(
            PersonTemplateRow.tenant_id == tenant_id,
            PersonRow.status == PersonStatus.ACTIVE.value,
        )
        .order_by(PersonTemplateRow.id)
        .execution_options(yield_per=5000)
    )
    if person_id is not None:
        query = query.where(PersonTemplateRow.person_id == person_id)
    for owner, tenant, key_id, sealed in s.execute(query):
        yield SealedTemplate(owner, tenant, key_id, bytes(sealed))


def last_event_id(s: Session) -> int:
    """The newest event id (0: none): changes anywhere raise it."""
    return int(s.scalar(sa.select(sa.func.max(PersonEventRow.id))) or 0)


def tenants_changed_since(s: Session, event_id: int) -> set[str]:
    """Tenants with person events newer than ``event_id``."""
    return set(
        s.scalars(
            sa.select(PersonEventRow.tenant_id).where(PersonEventRow.id > event_id).distinct()
        )
    )

"""Persons enrolled for face protection, their consent and its history.

Person lifecycle (``PersonService``)::

    enrol (consent + photos) ──► active ──► withdrawn   (final: templates destroyed,
                                                          never matched again)
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import Field

from jikimi.domain.base import Frozen


class PersonStatus(StrEnum):
    ACTIVE = "active"  # her templates are matched in every scan of the tenant
    WITHDRAWN = "withdrawn"  # final: templates destroyed, never matched again


class PersonEventKind(StrEnum):
    ENROLLED = "enrolled"
    WITHDRAWN = "withdrawn"


MAX_ENROL_PHOTOS = 10


class Consent(Frozen):
    """What she agreed to, who recorded it and when."""

    text: str
    recorded_by: str = Field(description="The API key id that recorded it.")
    recorded_at: datetime


class PersonEvent(Frozen):
    """One entry of a person's record (append-only)."""

    kind: PersonEventKind
    actor: str = Field(description="The API key id that acted.")
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)


class Person(Frozen):
    """A person enrolled for face protection. Her templates are never part of this."""

    id: str
    tenant_id: str
    case: str | None = Field(default=None, description="The case id it belongs to, if any.")
    status: PersonStatus
    consent: Consent
    templates: int = Field(description="Face templates held (0 once withdrawn).")
    created_at: datetime
    withdrawn_at: datetime | None = None
    withdrawn_by: str | None = None
    events: tuple[PersonEvent, ...] = ()


class EnrolPhoto(NamedTuple):
    """One enrolment photo as uploaded: its bytes and a name for error messages."""

    name: str
    data: bytes

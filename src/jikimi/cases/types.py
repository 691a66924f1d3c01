"""Value types of the takedown loop: what casework services take and return.

The store converts its rows into these at its edge. Secrets never appear here in
the clear: a host's API secret and a victim's contact details stay sealed in the
store and are opened only by the service that needs them (sending, contacting);
a case's PIN is shown once, when the case is opened (:class:`CaseOpened`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import Field

from jikimi.cases.lifecycle import CaseStatus, ItemStatus, NoticeState
from jikimi.domain.base import Frozen as _Frozen


class ContactKind(StrEnum):
    EMAIL = "email"  # SMTP to this address
    API = "api"  # HMAC-signed JSON POST to this URL (secret kept sealed)
    FORM = "form"  # a web form a person fills by hand: jikimi prepares the text only


class Contact(_Frozen):
    kind: ContactKind
    value: str = Field(min_length=1, max_length=2048)


class Regulator(_Frozen):
    """The authority a host answers to, copied on escalations (e.g. KCSC for a Korean host).

    A missed deadline is the regulator's business: the follow-up notice names it and,
    when it has an e-mail address, copies it (``Cc``).
    """

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)

    def __str__(self) -> str:
        return self.name if self.email is None else f"{self.name} <{self.email}>"


class Host(_Frozen):
    """A platform or site that hosts items, and how it takes removal requests."""

    id: str
    tenant_id: str
    slug: str
    name: str
    language: str
    jurisdiction: str | None = None
    contacts: tuple[Contact, ...] = ()
    bases: tuple[str, ...] = ()
    has_api_secret: bool = False
    removal_markers: tuple[str, ...] = ()
    regulator: Regulator | None = None
    created_at: datetime
    updated_at: datetime


class Case(_Frozen):
    """One person's case. The victim's contact details are never part of it."""

    id: str
    tenant_id: str
    number: str
    title: str
    status: CaseStatus
    language: str
    has_victim_contact: bool
    takedown_bank_id: str | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None


class CaseOpened(_Frozen):
    """A new case and the PIN the victim uses with its number: the only time it is shown."""

    case: Case
    pin: str


class Item(_Frozen):
    """One place the content was posted (a URL), or a hash a victim sent."""

    id: str
    tenant_id: str
    case_id: str
    host_id: str | None = None
    source_id: str | None = None
    url: str | None = None
    status: ItemStatus
    signals: tuple[dict[str, str], ...] = ()
    evidence_sha256: str | None = None
    capture: dict[str, object] | None = None
    scan_id: str | None = None
    reason: str | None = None
    created_at: datetime
    updated_at: datetime
    notified_at: datetime | None = None
    deadline_at: datetime | None = None
    removed_at: datetime | None = None
    reappeared_at: datetime | None = None
    last_checked_at: datetime | None = None
    check_count: int = 0
    escalated_at: datetime | None = None
    """When it was escalated: still up after its notice's deadline (see the notices)."""

    @property
    def overdue(self) -> bool:
        """Notified, past the deadline, and not yet confirmed gone."""
        return (
            self.status in (ItemStatus.NOTIFIED, ItemStatus.REAPPEARED)
            and self.removed_at is None  # a re-upload's old URL is gone; its new notice counts
            and self.deadline_at is not None
            and datetime.now(UTC) > self.deadline_at
        )


class Notice(_Frozen):
    """One removal request to one host, listing some of a case's items."""

    id: str
    tenant_id: str
    case_id: str
    host_id: str
    state: NoticeState
    bases: tuple[str, ...]
    language: str
    language_fallback: bool
    subject: str
    body: str
    item_ids: tuple[str, ...]
    channel: dict[str, object] | None = None
    drafted_by: str
    approved_by: str | None = None
    failure: str | None = None
    copy_to: Regulator | None = None
    """A follow-up's copy to the host's regulator (``Cc`` when sent by e-mail)."""
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    deadline_at: datetime | None = None


class Source(_Frozen):
    """An account or channel that posts items."""

    id: str
    tenant_id: str
    host_id: str | None
    handle: str
    created_at: datetime


class SourceRisk(_Frozen):
    """How much a source is to be watched, with the figures behind it."""

    source: Source
    items: int
    confirmed: int
    reappeared: int
    items_last_7d: int
    score: float
    reasons: tuple[str, ...]
    scans: int = 0
    """Uploads a platform scanned with this source as the uploader."""
    scans_flagged: int = 0
    """Of those, the ones the policy held or removed."""

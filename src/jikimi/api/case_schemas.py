"""Request and response bodies of the casework API (hosts, cases, items, notices, audit).

Responses leave out what no caller may read back: tenant ids, a host's API secret,
a victim's contact details and PIN (the PIN is in the one response that opens the
case). Items and notices are shown as the services return them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jikimi.cases.lifecycle import CaseStatus, ItemStatus, NoticeState
from jikimi.cases.types import Case, Contact, Host, Item, Notice, Regulator
from jikimi.domain import (
    CaseTitle,
    Handle,
    HostName,
    ItemUrl,
    Language,
    PinText,
    Remark,
    VictimContact,
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


class HostCreate(_Request):
    slug: str = Field(min_length=1, max_length=64, examples=["telegram"])
    name: HostName
    language: Language
    jurisdiction: str | None = Field(default=None, max_length=64)
    contacts: list[Contact] = Field(default_factory=list, max_length=10)
    bases: list[str] = Field(default_factory=list, max_length=10)
    api_secret: str | None = Field(default=None, min_length=16, max_length=512)
    removal_markers: list[str] = Field(default_factory=list, max_length=20)
    regulator: Regulator | None = Field(
        default=None, description="Copied on escalations (a follow-up after a missed deadline)."
    )


class HostPublic(_Response):
    id: str
    slug: str
    name: str
    language: str
    jurisdiction: str | None
    contacts: list[Contact]
    bases: list[str]
    has_api_secret: bool
    removal_markers: list[str]
    regulator: Regulator | None = None
    created_at: datetime

    @classmethod
    def of(cls, host: Host) -> HostPublic:
        return cls.model_validate(host.model_dump(exclude={"tenant_id", "updated_at"}))


class HostList(_Response):
    hosts: list[HostPublic]


class CaseCreate(_Request):
    title: CaseTitle
    language: Language = "ko"
    victim_contact: VictimContact | None = None
    takedown_bank: str | None = Field(default=None, description="A takedown bank's id.")


class CasePublic(_Response):
    id: str
    number: str
    title: str
    status: CaseStatus
    language: str
    has_victim_contact: bool
    takedown_bank_id: str | None
    created_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, case: Case) -> CasePublic:
        return cls.model_validate(
            case.model_dump(exclude={"tenant_id", "created_by", "updated_at"})
        )


class CaseOpenedPublic(_Response):
    """A new case; ``pin`` is shown this once, for the victim to follow her case."""

    case: CasePublic
    pin: str


class CaseList(_Response):
    cases: list[CasePublic]


class CaseStatusUpdate(_Request):
    status: CaseStatus


class ItemCreate(_Request):
    url: ItemUrl | None = None
    pdq: str | None = None
    md5: str | None = None
    sha256: str | None = None
    host: str | None = Field(default=None, description="The host's slug.")
    source: Handle | None = None


class ItemPublic(_Response):
    id: str
    case_id: str
    host_id: str | None
    source_id: str | None
    url: str | None
    status: ItemStatus
    overdue: bool
    signals: list[dict[str, str]]
    evidence_sha256: str | None
    capture: dict[str, Any] | None
    scan_id: str | None
    reason: str | None
    created_at: datetime
    notified_at: datetime | None
    deadline_at: datetime | None
    removed_at: datetime | None
    reappeared_at: datetime | None
    last_checked_at: datetime | None
    check_count: int
    escalated_at: datetime | None = None

    @classmethod
    def of(cls, item: Item) -> ItemPublic:
        body = item.model_dump(exclude={"tenant_id", "updated_at"})
        capture = body.get("capture")
        if capture:
            body["capture"] = {k: v for k, v in capture.items() if k != "blob"}
        return cls.model_validate({**body, "overdue": item.overdue})


class ItemList(_Response):
    items: list[ItemPublic]


class ItemStatusUpdate(_Request):
    status: ItemStatus
    reason: Remark | None = None


class NoticeDraft(_Request):
    case: str
    host: str
    bases: list[str] | None = None


class NoticeSent(_Request):
    note: Remark | None = None


class NoticePublic(_Response):
    id: str
    case_id: str
    host_id: str
    state: NoticeState
    bases: list[str]
    language: str
    language_fallback: bool
    subject: str
    body: str
    item_ids: list[str]
    channel: dict[str, Any] | None
    drafted_by: str
    approved_by: str | None
    failure: str | None
    copy_to: Regulator | None = None
    created_at: datetime
    sent_at: datetime | None
    deadline_at: datetime | None

    @classmethod
    def of(cls, notice: Notice) -> NoticePublic:
        return cls.model_validate(notice.model_dump(exclude={"tenant_id", "updated_at"}))


class NoticeList(_Response):
    notices: list[NoticePublic]


class AuditEntryPublic(_Response):
    seq: int
    at: datetime
    actor: str
    entity: str
    entity_id: str
    action: str
    data: dict[str, Any]
    digest: str


class AuditHistory(_Response):
    entries: list[AuditEntryPublic]


class AuditVerification(_Response):
    ok: bool
    checked: int
    head_seq: int | None
    head_digest: str | None
    first_bad_seq: int | None
    reason: str | None


class VictimStatusRequest(_Request):
    number: PinText
    pin: PinText


class VictimItem(_Response):
    status: ItemStatus
    host: str | None
    found_at: datetime
    notified_at: datetime | None
    removed_at: datetime | None


class VictimStatus(_Response):
    """What a victim may see of her case: never another person's data, never evidence."""

    number: str
    status: CaseStatus
    items: list[VictimItem]
    notices_sent: int
    removed: int


class ReportRow(_Response):
    host: str
    host_name: str
    requested: int
    removed: int
    still_up: int
    reappeared: int
    overdue: int
    median_hours_to_removal: float | None
    slowest_hours_to_removal: float | None


class ReportPublic(_Response):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    hosts: list[ReportRow]
    total: ReportRow


class SourceRiskPublic(_Response):
    id: str
    handle: str
    host_id: str | None
    items: int
    confirmed: int
    reappeared: int
    items_last_7d: int
    score: float
    reasons: list[str]
    scans: int = 0
    scans_flagged: int = 0

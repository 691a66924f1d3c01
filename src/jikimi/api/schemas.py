"""Request and response bodies of the HTTP API, one model per direction.

Requests (``XCreate``, ``XUpdate``, ``MatchRequest``) validate shape and format so a
bad field is a 422 naming its path (``body.hashes.3.value``); they convert to the
service inputs of :mod:`jikimi.domain`. Responses (``XPublic``) are built from the
domain values and leave out what a caller must not see (tenant ids, secrets after
issue). The scan endpoints answer with the Verdict JSON v1 of :mod:`jikimi.domain`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from jikimi import domain
from jikimi.domain import BankKind, Match, SignalKind
from jikimi.domain.limits import (
    BankName,
    HttpUrl,
    KeyName,
    Labels,
    Note,
    PdqThreshold,
    Percent,
    Source,
)
from jikimi.errors import InvalidHash
from jikimi.matching.kinds import banked_kinds, kind_spec

MAX_MATCH_HASHES = 1000
"""Largest ``POST /v1/match`` batch."""

Threshold = PdqThreshold
_VPDQ_QUERY_PCT = (
    "vPDQ: a video matches a banked video when at least this percentage of its hashed "
    "frames (PDQ quality >= 50) are within pdq_threshold of some frame of the banked video."
)
_VPDQ_INDEX_PCT = (
    "vPDQ: a video matches a banked video only if, also, at least this percentage of the "
    "banked video's hashed frames are within pdq_threshold of some of its frames (0: a clip of "
    "a banked video matches it)."
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- banks ------------------------------------------------------------------------

_VARIANTS = (
    "Also match re-shared copies: uploads trimmed, found in a frame (caption bar, "
    "screenshot) or turned back (tilted), and centre crops of pictures banked from media "
    "(matches say which in `via`)."
)


class BankCreate(_Request):
    """A new bank. ``kind`` says what a match means: remove, hold, or known-safe."""

    name: BankName
    kind: BankKind
    pdq_threshold: Threshold = domain.DEFAULT_PDQ_THRESHOLD
    dihedral: bool = Field(default=False, description="Also match rotated/flipped copies.")
    variants: bool = Field(default=True, description=_VARIANTS)
    labels: Labels = ()
    enabled: bool = True
    keep_evidence: bool = Field(
        default=False, description="Keep the media of entries added by upload."
    )
    vpdq_query_pct: Percent = Field(
        default=domain.DEFAULT_VPDQ_QUERY_PCT, description=_VPDQ_QUERY_PCT
    )
    vpdq_index_pct: Percent = Field(
        default=domain.DEFAULT_VPDQ_INDEX_PCT, description=_VPDQ_INDEX_PCT
    )

    def to_domain(self) -> domain.BankCreate:
        return domain.BankCreate(**self.model_dump())


class BankUpdate(_Request):
    """Fields to change; absent fields stay as they are."""

    kind: BankKind | None = None
    pdq_threshold: Threshold | None = None
    dihedral: bool | None = None
    variants: bool | None = Field(default=None, description=_VARIANTS)
    labels: Labels | None = None
    enabled: bool | None = None
    keep_evidence: bool | None = None
    vpdq_query_pct: Percent | None = Field(default=None, description=_VPDQ_QUERY_PCT)
    vpdq_index_pct: Percent | None = Field(default=None, description=_VPDQ_INDEX_PCT)

    def to_domain(self) -> domain.BankUpdate:
        return domain.BankUpdate(**self.model_dump(exclude_unset=True))


class BankPublic(_Response):
    id: str
    name: str
    kind: BankKind
    pdq_threshold: int
    dihedral: bool
    variants: bool
    labels: list[str]
    enabled: bool
    keep_evidence: bool
    vpdq_query_pct: int
    vpdq_index_pct: int
    created_at: datetime
    entry_count: int
    shared_with: list[str]

    @classmethod
    def of(cls, bank: domain.Bank) -> BankPublic:
        return cls.model_validate(bank.model_dump(exclude={"tenant_id"}))


class BankShare(_Request):
    """The tenant (by name) to share a bank with."""

    tenant: str = Field(min_length=1, max_length=64, examples=["kcsc"])


class BankList(_Response):
    banks: list[BankPublic]


# --- entries ----------------------------------------------------------------------


@functools.cache
def _validator(kind: SignalKind) -> Callable[[str], str]:
    """The signal type's own hash check, from the registry (looked up once: it runs for
    every hash)."""
    return kind_spec(kind).validate


def _canonical(value: str, info: ValidationInfo, kind_field: str) -> str:
    """Normalise a hash or fail as a *validation* error, so the 422 names its field."""
    signal = info.data.get(kind_field)
    if signal is None:  # the type itself was invalid: that error is reported already
        return value
    if signal not in banked_kinds():
        raise PydanticCustomError(
            "invalid_hash", "{kind} hashes cannot be banked or matched", {"kind": signal.value}
        )
    try:
        return _validator(signal)(value)
    except InvalidHash as exc:
        raise PydanticCustomError("invalid_hash", "{reason}", {"reason": exc.message}) from exc


class EntryCreate(_Request):
    """A hash to add to a bank, with where it came from."""

    signal: SignalKind = Field(description="pdq, md5, sha256 or vpdq.")
    value: str = Field(
        description="Lower- or upper-case hex of the right length; for vpdq, the whole vPDQ "
        "hash file (lines frame,quality,pdq_hex,timestamp_s)."
    )
    source: Source | None = None
    note: Note | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("value")
    @classmethod
    def _check_hash(cls, value: str, info: ValidationInfo) -> str:
        return _canonical(value, info, "signal")

    def to_domain(self) -> domain.EntryCreate:
        return domain.EntryCreate(**self.model_dump())


class EntryStatusChange(StrEnum):
    """Reversible states; withdrawing (final) has its own endpoint."""

    ACTIVE = "active"
    DISABLED = "disabled"


class EntryUpdate(_Request):
    status: EntryStatusChange


class EntryPublic(_Response):
    id: str
    bank: str
    signal: SignalKind
    value: str = Field(
        description="The hash in lower-case hex; for vpdq, the video's identity: the SHA-256 of "
        "its frames in ThreatExchange's JSON form, without frame numbers (the frames are kept "
        "with it)."
    )
    status: domain.EntryStatus
    source: str | None
    note: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    media_sha256: str | None

    @classmethod
    def of(cls, entry: domain.Entry) -> EntryPublic:
        return cls.model_validate(entry.model_dump())


class EntryPagePublic(_Response):
    entries: list[EntryPublic]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: done.")

    @classmethod
    def of(cls, page: domain.EntryPage) -> EntryPagePublic:
        return cls(entries=[EntryPublic.of(e) for e in page.entries], next_cursor=page.next_cursor)


class RowErrorPublic(_Response):
    line: int
    code: domain.RowErrorCode
    message: str


class ImportReportPublic(_Response):
    rows: int
    added: int
    duplicates: int
    error_count: int
    errors: list[RowErrorPublic] = Field(description="The first 1000 row errors.")
    import_id: str | None = Field(
        default=None, description="The import's record (GET /v1/imports/{import_id})."
    )

    @classmethod
    def of(cls, report: domain.ImportReport, import_id: str | None = None) -> ImportReportPublic:
        return cls.model_validate({**report.model_dump(), "import_id": import_id})


class ImportErrorPublic(_Response):
    code: str
    message: str


class ImportPublic(_Response):
    """A recorded import: who, which file, how far it got, how it ended."""

    id: str
    bank: str
    bank_id: str
    key_id: str = Field(description="The API key that started it.")
    file_sha256: str = Field(description="SHA-256 of the file: a resume must send the same one.")
    file_bytes: int
    format: domain.RowFormat
    source: str | None
    state: domain.ImportState = Field(
        description="running, done, failed, or interrupted (its process died or was "
        "stopped): failed and interrupted imports can be resumed."
    )
    rows: int = Field(description="Rows read and committed: a resume goes on after them.")
    added: int
    duplicates: int
    error_count: int
    errors: list[RowErrorPublic] = Field(description="The first 1000 row errors.")
    failure: ImportErrorPublic | None = Field(description="Why a failed import stopped.")
    runs: int = Field(description="Runs started: the first and each resume.")
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, record: domain.BankImport) -> ImportPublic:
        return cls.model_validate(record.model_dump(exclude={"tenant_id"}))


class ImportList(_Response):
    imports: list[ImportPublic] = Field(description="Newest first.")


# --- matching ---------------------------------------------------------------------


class HashIn(_Request):
    """One hash to look up (the Verdict ``signals`` shape, without ``quality``)."""

    type: SignalKind
    value: str

    @field_validator("value")
    @classmethod
    def _check_hash(cls, value: str, info: ValidationInfo) -> str:
        return _canonical(value, info, "type")


class MatchRequest(_Request):
    hashes: list[HashIn] = Field(min_length=1, max_length=MAX_MATCH_HASHES)


class MatchResult(_Response):
    type: SignalKind
    value: str
    matches: list[Match]


class MatchResponse(_Response):
    """``results[i]`` answers ``hashes[i]``."""

    results: list[MatchResult]


# --- scans ------------------------------------------------------------------------


class ScanUrl(_Request):
    """Scan media fetched from a URL (only when the server enables URL fetching)."""

    url: HttpUrl


# --- keys -------------------------------------------------------------------------


class KeyCreate(_Request):
    role: domain.Role
    name: Annotated[KeyName, Field(examples=["upload pipeline"])]


class KeyPublic(_Response):
    id: str
    role: domain.Role
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: domain.ApiKey) -> KeyPublic:
        return cls.model_validate(key.model_dump(exclude={"tenant_id"}))


class KeyList(_Response):
    keys: list[KeyPublic]


class IssuedKeyPublic(_Response):
    """A new key: ``secret`` is shown this once and cannot be recovered."""

    key: KeyPublic
    secret: str

    @classmethod
    def of(cls, issued: domain.IssuedKey) -> IssuedKeyPublic:
        return cls(key=KeyPublic.of(issued.key), secret=issued.secret)


# --- webhooks ---------------------------------------------------------------------


class WebhookSetBody(_Request):
    """Where the tenant's scan consequences are POSTed, signed (replaces any webhook)."""

    url: str = Field(max_length=2048, examples=["https://receiver.example/jikimi"])
    events: list[str] | None = Field(
        default=None, max_length=16, description="Some of scan.held, bank.matched (default: all)."
    )


class WebhookPublic(_Response):
    """The tenant's webhook; its signing secret is never shown again."""

    url: str
    events: list[str]
    enabled: bool
    updated_at: datetime


class WebhookSetPublic(_Response):
    """The webhook as set: ``secret`` signs its deliveries and is shown this once."""

    webhook: WebhookPublic
    secret: str


# --- health -----------------------------------------------------------------------


class Health(_Response):
    status: str = Field(examples=["ok"])
    checks: dict[str, bool] = Field(default_factory=dict)


class PersonPublic(_Response):
    """A person enrolled for face protection. Her face templates are never shown."""

    id: str
    case: str | None
    status: domain.PersonStatus
    consent: domain.Consent
    templates: int = Field(description="Face templates held (0 once withdrawn).")
    created_at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    events: list[domain.PersonEvent]

    @classmethod
    def of(cls, person: domain.Person) -> PersonPublic:
        return cls.model_validate(person.model_dump(exclude={"tenant_id"}))

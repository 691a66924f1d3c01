"""Value types of tenants, keys, banks, entries, stored scans and scan jobs.

These are what services take and return and what the doors (API, CLI) render.
The store converts its ORM rows into these at its edge, so nothing above the
store ever holds a database object. Scan *results* live in :mod:`jikimi.model`
(``Verdict``); this module holds the administrative nouns around them.

Frozen pydantic models, except the few types made by the million on hot paths
(import rows, index entries, change-log rows, scan hashes): those are named
tuples, immutable too and ~10 times cheaper to create.

Person lifecycle (``PersonService``)::

    enrol (consent + photos) ──► active ──► withdrawn   (final: templates destroyed,
                                                          never matched again)

Entry lifecycle (``set_status``)::

    add ──► active ◄──────► disabled
              │                │
              └──► withdrawn ◄─┘     (final: never returned, never matched again)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from jikimi.model import BankKind, ErrorInfo, SignalKind, Verdict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- roles and permissions --------------------------------------------------------


class Role(StrEnum):
    """What an API key may do inside its tenant (see :data:`ROLE_PERMISSIONS`)."""

    ADMIN = "admin"
    CURATOR = "curator"  # keeps banks
    REVIEWER = "reviewer"  # reviews scans
    PLATFORM = "platform"  # a platform's upload pipeline: scan and match only
    CASEWORKER = "caseworker"  # victim-support staff: read scans and banks


class Permission(StrEnum):
    """One capability a service method checks before it does anything."""

    BANK_READ = "bank_read"  # banks, entries
    BANK_WRITE = "bank_write"  # create/update/delete/share banks, add/disable/withdraw entries
    BANK_TRANSFER = "bank_transfer"  # import and export entries
    SCAN = "scan"  # submit media
    MATCH = "match"  # submit hashes
    SCAN_READ = "scan_read"  # read the tenant's stored scans
    KEY_ADMIN = "key_admin"  # issue, list and revoke API keys
    PERSON_READ = "person_read"  # read enrolled persons (never their templates)
    PERSON_WRITE = "person_write"  # enrol persons (with consent), record withdrawal
    CASE_READ = "case_read"  # cases, items, notices, hosts, sources, reports, history
    CASE_WRITE = "case_write"  # open/close cases, add items, draft and send notices
    HOST_WRITE = "host_write"  # add and change hosts (the directory of platforms)
    NOTICE_APPROVE = "notice_approve"  # approve a drafted notice (the second pair of eyes)
    AUDIT_READ = "audit_read"  # verify the hash-chained audit log


ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.CURATOR: frozenset(
        {
            Permission.BANK_READ,
            Permission.BANK_WRITE,
            Permission.BANK_TRANSFER,
            Permission.SCAN,
            Permission.MATCH,
            Permission.SCAN_READ,
        }
    ),
    Role.REVIEWER: frozenset(
        {
            Permission.BANK_READ,
            Permission.SCAN,
            Permission.SCAN_READ,
            Permission.CASE_READ,
            Permission.NOTICE_APPROVE,
            Permission.AUDIT_READ,
        }
    ),
    Role.PLATFORM: frozenset({Permission.SCAN, Permission.MATCH, Permission.SCAN_READ}),
    Role.CASEWORKER: frozenset(
        {
            Permission.BANK_READ,
            Permission.SCAN_READ,
            Permission.PERSON_READ,
            Permission.PERSON_WRITE,
            Permission.CASE_READ,
            Permission.CASE_WRITE,
            Permission.HOST_WRITE,
        }
    ),
}
"""The role matrix, in one place: services enforce it, the API's tests walk it."""


# --- tenants and keys -------------------------------------------------------------


class Tenant(_Frozen):
    """An organisation using this jikimi (a platform, a regulator, a support centre)."""

    id: str
    name: str
    created_at: datetime


class ApiKey(_Frozen):
    """An API key's public record; the secret itself is shown once and never stored."""

    id: str
    tenant_id: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None = None


class IssuedKey(_Frozen):
    """A new key and its secret (``jk_<ulid>_<43 chars>``): the only time it is shown."""

    key: ApiKey
    secret: str


class Principal(_Frozen):
    """Who is calling: the tenant and role of an authenticated key."""

    tenant_id: str
    key_id: str
    role: Role

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


# --- banks and entries ------------------------------------------------------------

DEFAULT_PDQ_THRESHOLD = 31
MAX_PDQ_THRESHOLD = 64
"""Above this a PDQ "match" is meaningless (unrelated images differ by ~128 bits)."""

BANK_NAME_RE = re.compile(r"^[A-Z0-9_]{2,64}$")


class EntryStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # kept, not matched; can be enabled again
    WITHDRAWN = "withdrawn"  # final: never matched, listed or exported again


BANK_SIGNALS: frozenset[SignalKind] = frozenset(
    {SignalKind.PDQ, SignalKind.MD5, SignalKind.SHA256, SignalKind.VPDQ}
)
"""Signal types a bank entry may hold. A vPDQ entry's ``value`` is its identity
(``signals.vpdq.video_identity``: the SHA-256 of its frames without their numbers);
its frames are stored beside it (``store.video``)."""

DEFAULT_VPDQ_QUERY_PCT = 80
DEFAULT_VPDQ_INDEX_PCT = 0
"""vPDQ's defaults (Meta's): a video matches a banked one when 80 % of its frames are in
it, however little of the banked video it covers, so a clip matches its source."""


class Bank(_Frozen):
    """A list of known content and what a match against it means (its ``kind``)."""

    id: str
    tenant_id: str = Field(description="The owning tenant.")
    name: str
    kind: BankKind
    pdq_threshold: int = DEFAULT_PDQ_THRESHOLD
    dihedral: bool = False
    labels: tuple[str, ...] = ()
    enabled: bool = True
    keep_evidence: bool = False
    vpdq_query_pct: int = Field(
        default=DEFAULT_VPDQ_QUERY_PCT,
        description="A video matches a banked one when at least this percentage of its "
        "hashed frames are within pdq_threshold of some frame of the banked video.",
    )
    vpdq_index_pct: int = Field(
        default=DEFAULT_VPDQ_INDEX_PCT,
        description="A video matches a banked one only if, also, at least this percentage "
        "of the banked video's hashed frames are within pdq_threshold of some of its frames.",
    )
    created_at: datetime
    entry_count: int = Field(default=0, description="Entries not withdrawn (active + disabled).")
    shared_with: tuple[str, ...] = Field(
        default=(), description="Tenant ids it is shared with (shown to the owner only)."
    )


class BankCreate(_Frozen):
    """Input of ``BankService.create``; values are checked by the service (typed errors)."""

    name: str
    kind: BankKind
    pdq_threshold: int = DEFAULT_PDQ_THRESHOLD
    dihedral: bool = False
    labels: tuple[str, ...] = ()
    enabled: bool = True
    keep_evidence: bool = False
    vpdq_query_pct: int = DEFAULT_VPDQ_QUERY_PCT
    vpdq_index_pct: int = DEFAULT_VPDQ_INDEX_PCT


class BankUpdate(_Frozen):
    """Input of ``BankService.update``: ``None`` leaves a field as it is."""

    kind: BankKind | None = None
    pdq_threshold: int | None = None
    dihedral: bool | None = None
    labels: tuple[str, ...] | None = None
    enabled: bool | None = None
    keep_evidence: bool | None = None
    vpdq_query_pct: int | None = None
    vpdq_index_pct: int | None = None


class Entry(_Frozen):
    """One hash in a bank."""

    id: str
    bank: str = Field(description="The bank's name.")
    signal: SignalKind
    value: str
    status: EntryStatus
    source: str | None = None
    note: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    media_sha256: str | None = Field(
        default=None,
        description="SHA-256 of the media it was hashed from (entries added by upload); "
        "the media itself is kept only in banks that keep evidence.",
    )


class EntryMeta(_Frozen):
    """What a curator says about an entry: where it came from and why it is there."""

    source: str | None = None
    note: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class EntryCreate(EntryMeta):
    """Input of ``BankService.add_entry``: a hash plus its description."""

    signal: SignalKind
    value: str


class EntryPage(_Frozen):
    """One page of entries; pass ``next_cursor`` back to get the next (``None``: done)."""

    entries: tuple[Entry, ...]
    next_cursor: str | None = None


# --- import and export ------------------------------------------------------------


class RowFormat(StrEnum):
    """File forms of a bank's entries (ThreatExchange/HMA signal form)."""

    CSV = "csv"  # header signal_type,signal_value,metadata (or headerless "pdq,<hex>")
    JSON = "json"  # a JSON array of {"signal_type", "signal_value", "metadata"}
    JSONL = "jsonl"  # the same objects, one per line


class RowErrorCode(StrEnum):
    INVALID_HASH = "invalid_hash"
    UNKNOWN_SIGNAL_TYPE = "unknown_signal_type"
    MALFORMED_ROW = "malformed_row"
    BAD_METADATA = "bad_metadata"


class ImportRow(NamedTuple):
    """One parsed row, not yet validated; ``line`` is 1-based in the source file.

    A named tuple rather than a pydantic model: an import makes a million.
    """

    line: int
    signal_type: str
    signal_value: str
    metadata: Any = None


class RowError(_Frozen):
    """Why one row was not imported (the import goes on without it)."""

    line: int
    code: RowErrorCode
    message: str


MAX_REPORTED_ERRORS = 1000


class ImportReport(_Frozen):
    """Outcome of an import. ``errors`` keeps the first :data:`MAX_REPORTED_ERRORS`."""

    rows: int = Field(description="Rows read (added + duplicates + error_count).")
    added: int
    duplicates: int = Field(description="Rows already in the bank (withdrawn ones included).")
    error_count: int
    errors: tuple[RowError, ...] = ()


class ImportState(StrEnum):
    """Where a recorded import is (see :mod:`jikimi.services.imports` for the lifecycle)."""

    RUNNING = "running"  # a process holds its lease and is committing pages
    DONE = "done"  # final: every row was read
    FAILED = "failed"  # stopped by an error (``failure`` says which); resumable
    INTERRUPTED = "interrupted"  # its process died or was stopped; resumable


class BankImport(_Frozen):
    """The record of one import of a file into a bank, kept in the database.

    ``rows`` counts the rows read and committed so far (added, duplicates and
    rejected rows alike): a resume starts after them, so its final counts are those
    of an uninterrupted import. The counts and ``rows`` are written in the same
    transaction as each page of entries, so after a crash they say exactly what is
    in the bank.
    """

    id: str
    tenant_id: str
    bank_id: str
    bank: str
    key_id: str = Field(description="The API key that started the import.")
    file_sha256: str
    file_bytes: int
    format: RowFormat
    source: str | None = None
    state: ImportState
    rows: int = Field(description="Rows read and committed: where a resume goes on.")
    added: int
    duplicates: int
    error_count: int
    errors: tuple[RowError, ...] = ()
    failure: ErrorInfo | None = Field(default=None, description="Why a failed import stopped.")
    runs: int = Field(default=1, description="Runs started (the first one and each resume).")
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None

    def report(self) -> ImportReport:
        """The counts, as an uninterrupted :meth:`~jikimi.services.BankService.import_rows`
        would report them."""
        return ImportReport(
            rows=self.rows,
            added=self.added,
            duplicates=self.duplicates,
            error_count=self.error_count,
            errors=self.errors,
        )


# --- the matching index's view of entries ----------------------------------------


class ChangeOp(StrEnum):
    ADD = "add"  # the entry became active: index it
    REMOVE = "remove"  # the entry stopped matching (disabled, withdrawn, bank deleted)


class IndexEntry(NamedTuple):
    """What the matching index needs of an active entry: ``seq`` is its int64 id.

    A named tuple rather than a pydantic model: an index build reads millions.
    """

    seq: int
    bank_id: str
    signal: SignalKind
    value: str
    entry_id: str = ""
    """The public id (``ent_…``), which a Match reports."""


class Change(NamedTuple):
    """One row of the change log; ids increase in commit order (see ``store.entries``)."""

    id: int
    op: ChangeOp
    seq: int
    bank_id: str
    signal: SignalKind
    value: str
    at: datetime
    entry_id: str | None = None
    """The entry's public id when read with :func:`~jikimi.store.entries.changes_since`
    (``None`` once the entry is deleted)."""


class EntryRef(_Frozen):
    """How an index hit (an entry ``seq``) is shown: bank name and public entry id."""

    seq: int
    entry_id: str
    bank_id: str
    bank: str
    signal: SignalKind


# --- stored scans -----------------------------------------------------------------


class ScanRecord(_Frozen):
    """A stored scan: its Verdict, with later (retroactive) matches appended."""

    id: str
    tenant_id: str
    created_at: datetime
    verdict: Verdict


class ScanHashes(NamedTuple):
    """A stored scan's hashes, for re-checking against entries added later (streamed)."""

    scan_id: str
    tenant_id: str
    created_at: datetime
    pdq: str | None
    md5: str | None
    sha256: str | None


class ScanMatch(_Frozen):
    """A match found after the scan (retroactively), to record against it."""

    scan_id: str
    entry_seq: int
    distance: int


# --- scan jobs --------------------------------------------------------------------


class JobState(StrEnum):
    """Where a scan job is (see :mod:`jikimi.services.jobs` for the lifecycle)."""

    QUEUED = "queued"  # waiting for a runner (again, after a retry or a restart)
    RUNNING = "running"  # a runner holds its lease and is scanning
    DONE = "done"  # final: the Verdict is stored under ``scan_id``
    FAILED = "failed"  # final: ``error`` says why


class Job(_Frozen):
    """A durable scan of one upload (a large video), done in the background.

    ``progress_done``/``progress_total`` count the video's frames decoded so far
    (``total`` is 0 until the runner has opened the video). ``verdict`` is filled
    by ``JobService.get`` once the job is done (the stored scan, later matches
    included); the store leaves it ``None``.
    """

    id: str
    tenant_id: str
    role: Role = Field(description="The submitter's role: the job scans with its rights.")
    state: JobState
    source: dict[str, Any]
    blob_sha256: str
    size_bytes: int
    progress_done: int = 0
    progress_total: int = 0
    attempts: int = Field(default=0, description="Runs started (a run cut short counts).")
    scan_id: str | None = None
    error: ErrorInfo | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    verdict: Verdict | None = None


# --- persons (face protection) ----------------------------------------------------


class PersonStatus(StrEnum):
    ACTIVE = "active"  # her templates are matched in every scan of the tenant
    WITHDRAWN = "withdrawn"  # final: templates destroyed, never matched again


class PersonEventKind(StrEnum):
    ENROLLED = "enrolled"
    WITHDRAWN = "withdrawn"


MAX_CONSENT_TEXT = 4000
MAX_ENROL_PHOTOS = 10


class Consent(_Frozen):
    """What she agreed to, who recorded it and when."""

    text: str
    recorded_by: str = Field(description="The API key id that recorded it.")
    recorded_at: datetime


class PersonEvent(_Frozen):
    """One entry of a person's record (append-only)."""

    kind: PersonEventKind
    actor: str = Field(description="The API key id that acted.")
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)


class Person(_Frozen):
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

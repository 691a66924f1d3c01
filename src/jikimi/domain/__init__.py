"""The domain: value types every layer shares, one module per noun.

Read :mod:`jikimi.domain.verdict` first: the Verdict JSON contract (version 1)
that every scan returns. Then, per noun: :mod:`~jikimi.domain.tenancy` (roles,
tenants, keys), :mod:`~jikimi.domain.banks` (banks, entries, the index's view of
them), :mod:`~jikimi.domain.transfer` (import and export), :mod:`~jikimi.domain.scans`
(stored scans), :mod:`~jikimi.domain.jobs` (scan jobs), :mod:`~jikimi.domain.persons`
(face protection) and :mod:`~jikimi.domain.limits` (the bounded fields every door
checks the same way). All of them derive from one frozen base
(:class:`~jikimi.domain.base.Frozen`).

The store converts its ORM rows into these at its edge, so nothing above the
store ever holds a database object. Import from ``jikimi.domain``; the names
below are the public surface (``tests/test_domain_exports.py`` keeps ``__all__``
in step with the modules).
"""

from __future__ import annotations

from jikimi.domain.banks import (
    BANK_NAME_RE,
    BANK_SIGNALS,
    DEFAULT_PDQ_THRESHOLD,
    DEFAULT_VPDQ_INDEX_PCT,
    DEFAULT_VPDQ_QUERY_PCT,
    MAX_PDQ_THRESHOLD,
    Bank,
    BankCreate,
    BankUpdate,
    Change,
    ChangeOp,
    Entry,
    EntryCreate,
    EntryMeta,
    EntryPage,
    EntryRef,
    EntryStatus,
    IndexEntry,
)
from jikimi.domain.base import Frozen
from jikimi.domain.jobs import (
    Job,
    JobState,
)
from jikimi.domain.persons import (
    MAX_CONSENT_TEXT,
    MAX_ENROL_PHOTOS,
    Consent,
    EnrolPhoto,
    Person,
    PersonEvent,
    PersonEventKind,
    PersonStatus,
)
from jikimi.domain.scans import (
    ScanHashes,
    ScanMatch,
    ScanRecord,
)
from jikimi.domain.tenancy import (
    ROLE_PERMISSIONS,
    ApiKey,
    IssuedKey,
    Permission,
    Principal,
    Role,
    Tenant,
)
from jikimi.domain.transfer import (
    MAX_REPORTED_ERRORS,
    BankImport,
    ImportReport,
    ImportRow,
    ImportState,
    RowError,
    RowErrorCode,
    RowFormat,
)
from jikimi.domain.verdict import (
    VERDICT_SCHEMA,
    Action,
    BankKind,
    Decision,
    ErrorInfo,
    Evidence,
    EvidenceKind,
    Face,
    FrameHash,
    Grade,
    GradeLabel,
    Match,
    Media,
    MediaKind,
    Priority,
    Region,
    Segment,
    Signal,
    SignalKind,
    Strength,
    Synthetic,
    SyntheticLabel,
    Verdict,
)

__all__ = [
    "BANK_NAME_RE",
    "BANK_SIGNALS",
    "DEFAULT_PDQ_THRESHOLD",
    "DEFAULT_VPDQ_INDEX_PCT",
    "DEFAULT_VPDQ_QUERY_PCT",
    "MAX_CONSENT_TEXT",
    "MAX_ENROL_PHOTOS",
    "MAX_PDQ_THRESHOLD",
    "MAX_REPORTED_ERRORS",
    "ROLE_PERMISSIONS",
    "VERDICT_SCHEMA",
    "Action",
    "ApiKey",
    "Bank",
    "BankCreate",
    "BankImport",
    "BankKind",
    "BankUpdate",
    "Change",
    "ChangeOp",
    "Consent",
    "Decision",
    "EnrolPhoto",
    "Entry",
    "EntryCreate",
    "EntryMeta",
    "EntryPage",
    "EntryRef",
    "EntryStatus",
    "ErrorInfo",
    "Evidence",
    "EvidenceKind",
    "Face",
    "FrameHash",
    "Frozen",
    "Grade",
    "GradeLabel",
    "ImportReport",
    "ImportRow",
    "ImportState",
    "IndexEntry",
    "IssuedKey",
    "Job",
    "JobState",
    "Match",
    "Media",
    "MediaKind",
    "Permission",
    "Person",
    "PersonEvent",
    "PersonEventKind",
    "PersonStatus",
    "Principal",
    "Priority",
    "Region",
    "Role",
    "RowError",
    "RowErrorCode",
    "RowFormat",
    "ScanHashes",
    "ScanMatch",
    "ScanRecord",
    "Segment",
    "Signal",
    "SignalKind",
    "Strength",
    "Synthetic",
    "SyntheticLabel",
    "Tenant",
    "Verdict",
]

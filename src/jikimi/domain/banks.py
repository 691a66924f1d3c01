"""Banks and their entries, and the matching index's view of them (entries, change-log rows).

Entry lifecycle (``set_status``)::

    add ──► active ◄──────► disabled
              │                │
              └──► withdrawn ◄─┘     (final: never returned, never matched again)

Index entries and change-log rows are named tuples: made by the million on hot
paths, immutable too and ~10 times cheaper to create than a frozen model.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import Field

from jikimi.domain.base import Frozen
from jikimi.domain.limits import DEFAULT_PDQ_THRESHOLD
from jikimi.domain.verdict import BankKind, SignalKind


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


class Bank(Frozen):
    """A list of known content and what a match against it means (its ``kind``)."""

    id: str
    tenant_id: str = Field(description="The owning tenant.")
    name: str
    kind: BankKind
    pdq_threshold: int = DEFAULT_PDQ_THRESHOLD
    dihedral: bool = False
    variants: bool = Field(
        default=True,
        description="Also match re-shared copies: the upload trimmed, found in a frame or "
        "turned back (tilted), and crops of the banked pictures (see docs/matching.md).",
    )
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


class BankCreate(Frozen):
    """Input of ``BankService.create``; values are checked by the service (typed errors)."""

    name: str
    kind: BankKind
    pdq_threshold: int = DEFAULT_PDQ_THRESHOLD
    dihedral: bool = False
    variants: bool = True
    labels: tuple[str, ...] = ()
    enabled: bool = True
    keep_evidence: bool = False
    vpdq_query_pct: int = DEFAULT_VPDQ_QUERY_PCT
    vpdq_index_pct: int = DEFAULT_VPDQ_INDEX_PCT


class BankUpdate(Frozen):
    """Input of ``BankService.update``: ``None`` leaves a field as it is."""

    kind: BankKind | None = None
    pdq_threshold: int | None = None
    dihedral: bool | None = None
    variants: bool | None = None
    labels: tuple[str, ...] | None = None
    enabled: bool | None = None
    keep_evidence: bool | None = None
    vpdq_query_pct: int | None = None
    vpdq_index_pct: int | None = None


class Entry(Frozen):
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


class EntryMeta(Frozen):
    """What a curator says about an entry: where it came from and why it is there."""

    source: str | None = None
    note: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class EntryCreate(EntryMeta):
    """Input of ``BankService.add_entry``: a hash plus its description."""

    signal: SignalKind
    value: str


class EntryPage(Frozen):
    """One page of entries; pass ``next_cursor`` back to get the next (``None``: done)."""

    entries: tuple[Entry, ...]
    next_cursor: str | None = None


class ReindexReport(Frozen):
    """What ``jikimi bank reindex`` did: PDQ entries given bank-side variants, and those
    it could not (a hash banked without its picture, media not kept or unreadable)."""

    bank: str
    entries: int = Field(description="PDQ entries looked at (not withdrawn).")
    updated: int = Field(description="Entries whose variants were computed and stored.")
    hash_only: int = Field(
        description="Banked as a hash alone: matched by the uploads' variants only."
    )
    media_missing: int = Field(
        description="Added from media the bank did not keep, before the bank had variants."
    )
    kept: int = Field(
        default=0, description="Given variants when added; their media was not kept: unchanged."
    )
    unreadable: int = Field(default=0, description="Kept media that no longer decodes.")


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
    variants: str = ""
    """The entry's variant hashes (``signals.variants.format_variants``; empty: none)."""


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
    variants: str = ""
    """The entry's variant hashes as :func:`~jikimi.store.entries.changes_since` reads
    them (empty: none, or the entry is deleted)."""


class EntryRef(Frozen):
    """How an index hit (an entry ``seq``) is shown: bank name and public entry id."""

    seq: int
    entry_id: str
    bank_id: str
    bank: str
    signal: SignalKind

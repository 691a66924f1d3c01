"""SQLAlchemy 2 models: the database schema, identical on SQLite and PostgreSQL.

These rows never leave :mod:`jikimi.store`; repositories convert them to the
frozen value types of :mod:`jikimi.domain`. Enums are stored as their string
values (portable, readable in ``psql``/``sqlite3``) and JSON as ``sa.JSON``.
Every change here needs a migration in ``migrations/versions`` (a test compares
the migrated schema with these models on both databases).

Two integer keys matter beyond the public ``ent_…`` ids:

- ``bank_entries.seq`` is the entry's int64 id inside the matching index;
- ``changes.id`` orders the change log that lets the index (a cache on disk)
  catch up with the database after a crash: snapshot at watermark W, then
  replay the changes with ``id > W``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so migrations name the same thing on both databases."""

ID = sa.String(40)
"""Prefixed ULIDs (``bnk_01J…``): 30 characters, with room for longer prefixes."""

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""An int64 autoincrement key (SQLite only auto-assigns ``INTEGER PRIMARY KEY``)."""


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases.

    PostgreSQL keeps the zone (``timestamptz``); SQLite stores text without one,
    so values are converted to UTC on the way in and get ``tzinfo=UTC`` back on
    the way out. Naive datetimes are refused: they are always a bug here.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: sa.JSON(),
        list[str]: sa.JSON(),
    }


class TenantRow(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(128))
    secret_sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class BankRow(Base):
    __tablename__ = "banks"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16))
    pdq_threshold: Mapped[int]
    dihedral: Mapped[bool]
    # Re-shared copies (trimmed, framed, tilted uploads; crops of the banked pictures).
    variants: Mapped[bool] = mapped_column(server_default=sa.true())
    labels: Mapped[list[str]]
    enabled: Mapped[bool]
    keep_evidence: Mapped[bool]
    # vPDQ: a video matches when at least this share (percent) of the query's frames
    # match the banked video, and at least vpdq_index_pct of the banked video's frames.
    vpdq_query_pct: Mapped[int] = mapped_column(server_default="80")
    vpdq_index_pct: Mapped[int] = mapped_column(server_default="0")
    entry_count: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BankShareRow(Base):
    __tablename__ = "bank_shares"

    bank_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("banks.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime]


class EntryRow(Base):
    __tablename__ = "bank_entries"
    __table_args__ = (
        sa.Index(None, "bank_id", "seq"),  # keyset pagination and export per bank
        # The few vPDQ entries among millions of image hashes (video index builds).
        sa.Index(
            "ix_bank_entries_vpdq",
            "bank_id",
            "seq",
            sqlite_where=sa.text("signal = 'vpdq'"),
            postgresql_where=sa.text("signal = 'vpdq'"),
        ),
        {"sqlite_autoincrement": True},  # a deleted seq is never reused as an index id
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID, unique=True)
    bank_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("banks.id", ondelete="CASCADE"))
    signal: Mapped[str] = mapped_column(sa.String(8))
    value: Mapped[str] = mapped_column(sa.String(64))
    # A hash is in a bank once (a withdrawn one stays, so it is never re-added). The
    # unique key is 16 bytes of SHA-256(bank, signal, value) rather than the columns
    # themselves: a six times smaller index stays in memory at millions of entries,
    # which is what keeps bulk imports fast (see store.entries.dedupe_key).
    dedupe_key: Mapped[bytes] = mapped_column(sa.LargeBinary(16), unique=True)
    status: Mapped[str] = mapped_column(sa.String(12))
    source: Mapped[str | None] = mapped_column(sa.Text)
    note: Mapped[str | None] = mapped_column(sa.Text)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", sa.JSON)
    media_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    # PDQ hashes of crops of the banked picture ("via:hex via:hex"; signals.variants).
    variants: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ChangeRow(Base):
    """The change log of active entries (no foreign keys: it outlives deleted banks)."""

    __tablename__ = "changes"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    op: Mapped[str] = mapped_column(sa.String(8))
    entry_seq: Mapped[int] = mapped_column(sa.BigInteger)
    bank_id: Mapped[str] = mapped_column(ID)
    signal: Mapped[str] = mapped_column(sa.String(8))
    value: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime]


class ScanRow(Base):
    __tablename__ = "scans"
    __table_args__ = (sa.Index(None, "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    verdict: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


class ScanSignalRow(Base):
    """One signal of a stored scan, for retroactive matching: a row per kind, any kind.

    ``key`` is what :mod:`jikimi.matching.kinds` says a stored scan keeps of the
    kind (the hash; a video's identity for ``vpdq``, whose frames stay in the Verdict).
    """

    __tablename__ = "scan_signals"
    __table_args__ = (sa.Index(None, "kind", "key"),)

    scan_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64))


class ScanMatchRow(Base):
    """A match found after the scan was stored (retroactive matching)."""

    __tablename__ = "scan_matches"

    scan_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True
    )
    entry_seq: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("bank_entries.seq", ondelete="CASCADE"), primary_key=True, index=True
    )
    distance: Mapped[int]
    found_at: Mapped[datetime]


class VideoFrameRow(Base):
    """One hashed frame of a banked video (entry signal ``vpdq``): vPDQ's per-frame row."""

    __tablename__ = "video_frames"

    entry_seq: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("bank_entries.seq", ondelete="CASCADE"), primary_key=True
    )
    frame: Mapped[int] = mapped_column(primary_key=True)
    quality: Mapped[int]
    pdq: Mapped[str] = mapped_column(sa.String(64))
    timestamp_s: Mapped[float] = mapped_column(sa.Float)


class JobRow(Base):
    """A durable scan job (large videos): the upload sits in the blob store meanwhile.

    ``state`` goes queued → running → done | failed. A runner claims a job by
    setting ``lease_owner``/``lease_until``; a job whose lease ran out (its
    process died) is claimed again. Only the lease holder may finish it, with a
    conditional update, so a job completes once even if two runners raced.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index(None, "state", "created_at"),
        sa.Index(None, "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(12))
    source: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    blob_sha256: Mapped[str] = mapped_column(sa.String(64))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    progress_done: Mapped[int]
    progress_total: Mapped[int]
    attempts: Mapped[int]
    lease_owner: Mapped[str | None] = mapped_column(sa.String(64))
    lease_until: Mapped[datetime | None]
    scan_id: Mapped[str | None] = mapped_column(ID)
    error: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class BankImportRow(Base):
    """The record of one bank import (see :mod:`jikimi.store.imports`).

    ``rows_done`` and the counts are written in the transaction of each page of
    entries, so they always say what the bank holds of the file. A running import
    holds a lease (``lease_owner``/``lease_until``), renewed while it runs; a lapsed
    lease means its process died, and the import reads as interrupted to any process.
    """

    __tablename__ = "imports"
    __table_args__ = (
        sa.Index(None, "tenant_id", "bank_id", "started_at"),
        sa.Index(None, "state", "lease_until"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    bank_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("banks.id", ondelete="CASCADE"))
    key_id: Mapped[str] = mapped_column(ID)
    file_sha256: Mapped[str] = mapped_column(sa.String(64))
    file_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    format: Mapped[str] = mapped_column(sa.String(8))
    source: Mapped[str | None] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(12))
    rows_done: Mapped[int] = mapped_column(sa.BigInteger)
    added: Mapped[int] = mapped_column(sa.BigInteger)
    duplicates: Mapped[int] = mapped_column(sa.BigInteger)
    error_count: Mapped[int] = mapped_column(sa.BigInteger)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    failure: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    runs: Mapped[int]
    lease_owner: Mapped[str | None] = mapped_column(sa.String(64))
    lease_until: Mapped[datetime | None]
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class PersonRow(Base):
    """A person enrolled for face protection, with the consent that allows it.

    ``status`` goes active → withdrawn (final). Withdrawal deletes her templates
    (``person_templates``) in the same transaction; this row stays, without any
    biometric data, as the record that she was enrolled and withdrew.
    """

    __tablename__ = "persons"
    __table_args__ = (sa.Index(None, "tenant_id", "status"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    case_id: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(12))
    consent_text: Mapped[str] = mapped_column(sa.Text)
    consent_by: Mapped[str] = mapped_column(ID)
    consent_at: Mapped[datetime]
    created_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[str | None] = mapped_column(ID)


class PersonTemplateRow(Base):
    """One face template, sealed (AES-256-GCM, see ``jikimi.faces.crypto``)."""

    __tablename__ = "person_templates"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    sealed: Mapped[bytes] = mapped_column(sa.LargeBinary)
    key_id: Mapped[str] = mapped_column(sa.String(16))
    photo_sha256: Mapped[str] = mapped_column(sa.String(64))
    face_px: Mapped[int]
    created_at: Mapped[datetime]


class PersonEventRow(Base):
    """The append-only record of what happened to a person: enrolled, withdrawn.

    No foreign key to ``persons``: the record outlives everything else about her.
    ``id`` orders events; processes poll its maximum to learn that some tenant's
    enrolled faces changed (their indexes are rebuilt).
    """

    __tablename__ = "person_events"
    __table_args__ = (
        sa.Index(None, "person_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(ID)
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON)

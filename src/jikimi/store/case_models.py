"""Tables of the takedown loop: hosts, cases, items, notices, sources, audit, outbox.

Kept apart from :mod:`jikimi.store.models` (same ``Base``, same conventions) so the
schema of casework reads as one piece. Secrets and a victim's contact details are
stored sealed (AES-GCM, :mod:`jikimi.evidence.sealing`), the victim's PIN as an
HMAC under the instance key; nothing here holds either in the clear.

The audit log's ``seq`` is assigned by the writer under a lock on the one
``audit_head`` row, so sequence numbers run without gaps and each row commits to
the previous row's digest (:mod:`jikimi.audit.chain`).

The outbox holds every consequence to deliver later (send a notice, re-check an
item): a row is written in the same transaction as the decision that caused it,
claimed with a lease, and done once per ``key``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from jikimi.store.models import ID, Base, BigId


class HostRow(Base):
    __tablename__ = "hosts"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "slug"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    language: Mapped[str] = mapped_column(sa.String(16))
    jurisdiction: Mapped[str | None] = mapped_column(sa.String(64))
    # [{"kind": "email"|"api"|"form", "value": "…"}]; an API secret is sealed apart.
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    bases: Mapped[list[str]] = mapped_column(sa.JSON)
    api_secret_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    removal_markers: Mapped[list[str]] = mapped_column(sa.JSON)
    # {"name": "…", "email": "…" | null}: copied on escalations (migration 0015)
    regulator: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (sa.Index(None, "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(12))
    language: Mapped[str] = mapped_column(sa.String(16))
    victim_contact_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    pin_hash: Mapped[str] = mapped_column(sa.String(200))
    takedown_bank_id: Mapped[str | None] = mapped_column(ID)
    created_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class SourceRow(Base):
    """An account or channel that posts items (``@channel_name`` on a host)."""

    __tablename__ = "sources"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "host_key", "handle"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    # the host's id, or "" for a source seen without a host (unique keys ignore NULL)
    host_key: Mapped[str] = mapped_column(sa.String(40))
    handle: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime]


class SourceScanRow(Base):
    """A stored scan linked to the source (a platform's uploader id) that posted it."""

    __tablename__ = "source_scans"
    __table_args__ = (sa.Index(None, "source_id", "created_at"),)

    scan_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("sources.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(sa.String(12))
    created_at: Mapped[datetime]


class ItemRow(Base):
    __tablename__ = "case_items"
    __table_args__ = (
        sa.Index(None, "case_id", "created_at"),
        sa.Index(None, "tenant_id", "status", "deadline_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    case_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("cases.id", ondelete="CASCADE"))
    host_id: Mapped[str | None] = mapped_column(ID, sa.ForeignKey("hosts.id"))
    source_id: Mapped[str | None] = mapped_column(ID, sa.ForeignKey("sources.id"))
    url: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(12))
    # [{"type": "pdq", "value": "…"}, …]: the hashes that identify the content
    signals: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    evidence_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    capture: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    scan_id: Mapped[str | None] = mapped_column(ID)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    notified_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    reappeared_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    check_count: Mapped[int] = mapped_column(server_default="0")
    escalated_at: Mapped[datetime | None]


class NoticeRow(Base):
    __tablename__ = "notices"
    __table_args__ = (sa.Index(None, "case_id", "created_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    case_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("cases.id", ondelete="CASCADE"))
    host_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("hosts.id"))
    state: Mapped[str] = mapped_column(sa.String(12))
    bases: Mapped[list[str]] = mapped_column(sa.JSON)
    language: Mapped[str] = mapped_column(sa.String(16))
    language_fallback: Mapped[bool]
    subject: Mapped[str] = mapped_column(sa.Text)
    body: Mapped[str] = mapped_column(sa.Text)
    item_ids: Mapped[list[str]] = mapped_column(sa.JSON)
    channel: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    drafted_by: Mapped[str] = mapped_column(ID)
    approved_by: Mapped[str | None] = mapped_column(ID)
    failure: Mapped[str | None] = mapped_column(sa.Text)
    copy_to: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]


class AuditRow(Base):
    """One entry of the hash-chained audit log (append-only; see jikimi.audit.chain)."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index(None, "tenant_id", "entity", "entity_id"),)

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    tenant_id: Mapped[str] = mapped_column(ID)
    actor: Mapped[str] = mapped_column(sa.String(64))
    entity: Mapped[str] = mapped_column(sa.String(16))
    entity_id: Mapped[str] = mapped_column(ID)
    action: Mapped[str] = mapped_column(sa.String(32))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    prev: Mapped[str] = mapped_column(sa.String(64))
    digest: Mapped[str] = mapped_column(sa.String(64))


class AuditHeadRow(Base):
    """The chain's newest ``seq`` and digest: one row, locked by every append."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    digest: Mapped[str] = mapped_column(sa.String(64))


class OutboxRow(Base):
    """A consequence to deliver: claimed with a lease, done at most once per ``key``."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index(None, "state", "next_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(sa.String(32))
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    state: Mapped[str] = mapped_column(sa.String(12))
    attempts: Mapped[int]
    next_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(sa.String(64))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]

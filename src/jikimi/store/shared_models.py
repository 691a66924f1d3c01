"""The table that replaces per-process files: leases, watermarks, key fingerprints.

Several ``jikimi serve`` processes on different machines share one database and
nothing else. Whatever one of them once kept in its data directory and the others
must agree on is a row of ``shared_state`` (see :mod:`jikimi.store.shared`):

- ``lease:<name>``: who runs a singleton background task (retroactive matching),
  until when (renewed while it runs; another process takes over once it lapses);
- ``watermark:<name>``: how far such a task got (an integer, as text);
- ``key:<name>``: the fingerprint (never the key) of a key every process must hold
  the same copy of, so a replica started with a different key refuses to start.

``attempt_failures`` counts failed attempts at the public case status (by a hash
of the case number or the client address), so the limit holds across replicas.

``webhooks`` (one per tenant) says where the consequences of a tenant's scans
are delivered (:mod:`jikimi.actions`).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from jikimi.store.models import ID, Base, BigId


class SharedStateRow(Base):
    """One named value, optionally leased to one process."""

    __tablename__ = "shared_state"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    value: Mapped[str | None] = mapped_column(sa.Text)
    owner: Mapped[str | None] = mapped_column(sa.String(80))
    lease_until: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class WebhookRow(Base):
    """A tenant's webhook: where consequences of its scans are POSTed, signed.

    The signing secret is stored sealed (AES-GCM under the evidence key, bound to
    the tenant), so a copy of the database alone cannot forge deliveries.
    """

    __tablename__ = "webhooks"

    tenant_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(sa.String(2048))
    events: Mapped[list[str]]
    secret_sealed: Mapped[bytes] = mapped_column(sa.LargeBinary)
    enabled: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AttemptFailureRow(Base):
    """One failed attempt under a rate-limited key (kept as a SHA-256, not in the clear)."""

    __tablename__ = "attempt_failures"
    __table_args__ = (sa.Index(None, "key", "at"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime]

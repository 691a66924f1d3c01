"""Tables of the web UI: people's accounts and sessions, the review queue, held media.

Kept apart from :mod:`jikimi.store.models` (same ``Base``) so the pages' schema reads
as one piece. A password is stored as an argon2 hash, a TOTP secret sealed (AES-GCM,
the evidence key), a session id only as its SHA-256: a copy of the database signs
nobody in.

A held scan's media (the only media jikimi keeps of a scan) is a blob named by its
SHA-256 with a ``kept_until`` time; :class:`~jikimi.services.reviews.HeldMedia` deletes
it when the scan is decided or the time has passed.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from jikimi.store.models import ID, Base, BigId


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    totp_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    failed: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[datetime | None]
    disabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime]
    last_sign_in_at: Mapped[datetime | None]
    # The last TOTP time step accepted for her: a code of that step or an earlier
    # one is refused (replay protection; RFC 6238 section 5.2).
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)


class UserSessionRow(Base):
    __tablename__ = "user_sessions"

    id_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("users.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class RecoveryCodeRow(Base):
    """A single-use code that stands in for a TOTP code, stored as a hash only.

    The codes have 80 random bits each, so a plain SHA-256 (of the user id and the
    code) is enough to keep a database copy from using them, and lets sign-in find
    the code by its hash instead of trying ten slow hashes.
    """

    __tablename__ = "recovery_codes"

    code_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PasswordResetRow(Base):
    """A one-time password reset an admin (or the operator) issued; only its hash is kept."""

    __tablename__ = "password_resets"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ImportTotalRow(Base):
    """Rows in an import's uploaded file: its progress bar's 100 %, the same on every replica."""

    __tablename__ = "ui_import_totals"

    import_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("imports.id", ondelete="CASCADE"), primary_key=True
    )
    total_rows: Mapped[int] = mapped_column(sa.BigInteger)


class UiSettingsRow(Base):
    """A tenant's settings for its people (absent: the defaults of ``UiSettings``)."""

    __tablename__ = "ui_settings"

    tenant_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    require_totp: Mapped[bool] = mapped_column(sa.Boolean)
    daily_cap: Mapped[int] = mapped_column(sa.Integer)
    break_minutes: Mapped[int] = mapped_column(sa.Integer)


class ReviewRow(Base):
    """A reviewer's decision on a held scan (no row: still in the queue)."""

    __tablename__ = "reviews"

    scan_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(sa.String(16))
    decided_by: Mapped[str] = mapped_column(sa.String(64))
    decided_at: Mapped[datetime]
    bank_id: Mapped[str | None] = mapped_column(ID)
    case_id: Mapped[str | None] = mapped_column(ID)
    # An escalation: who sent it up, when and why. They stay when a senior reviewer
    # later decides the scan (the row's action, decided_by and decided_at are hers).
    escalated_by: Mapped[str | None] = mapped_column(sa.String(64))
    escalated_at: Mapped[datetime | None]
    escalation_reason: Mapped[str | None] = mapped_column(sa.String(1000))


class ReviewViewRow(Base):
    """One item a reviewer looked at (the count of today's items and the daily cap)."""

    __tablename__ = "review_views"
    __table_args__ = (sa.Index(None, "tenant_id", "user_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    # The principal's ``key_id``: a user's id for a person (no foreign key: the service
    # takes any principal, as every service does).
    user_id: Mapped[str] = mapped_column(sa.String(64))
    scan_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("scans.id", ondelete="CASCADE"))
    at: Mapped[datetime]


class HeldMediaRow(Base):
    """A held scan in the review queue, with its media (sealed) until ``kept_until``.

    ``sha256`` names the sealed blob; ``None`` once the media is deleted (a decision
    to dismiss, or the retention period has passed): the decision stays possible.
    """

    __tablename__ = "held_media"
    __table_args__ = (
        sa.Index(None, "tenant_id", "priority", "held_at"),
        sa.Index(None, "kept_until"),
    )

    scan_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    media_type: Mapped[str] = mapped_column(sa.String(16))
    priority: Mapped[int] = mapped_column(sa.Integer)
    held_at: Mapped[datetime]
    kept_until: Mapped[datetime]

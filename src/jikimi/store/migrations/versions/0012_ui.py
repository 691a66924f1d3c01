"""The web UI: users and sessions, tenant UI settings, reviews, held media.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

Written out in full: it must keep meaning what it meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.String(length=40)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("totp_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("locked_until", _TS, nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_sign_in_at", _TS, nullable=True),
        _fk("users", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "user_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        _fk("user_sessions", "user_id", "users"),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_user_sessions")),
    )
    op.create_table(
        "ui_settings",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("require_totp", sa.Boolean(), nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=False),
        sa.Column("break_minutes", sa.Integer(), nullable=False),
        _fk("ui_settings", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_ui_settings")),
    )
    op.create_table(
        "reviews",
        sa.Column("scan_id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", _TS, nullable=False),
        sa.Column("bank_id", _ID, nullable=True),
        sa.Column("case_id", _ID, nullable=True),
        _fk("reviews", "scan_id", "scans"),
        _fk("reviews", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("scan_id", name=op.f("pk_reviews")),
    )
    op.create_table(
        "review_views",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("scan_id", _ID, nullable=False),
        sa.Column("at", _TS, nullable=False),
        _fk("review_views", "tenant_id", "tenants"),
        _fk("review_views", "scan_id", "scans"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_views")),
    )
    op.create_index(
        op.f("ix_review_views_tenant_id_user_id_at"),
        "review_views",
        ["tenant_id", "user_id", "at"],
        unique=False,
    )
    op.create_table(
        "held_media",
        sa.Column("scan_id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("media_type", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("held_at", _TS, nullable=False),
        sa.Column("kept_until", _TS, nullable=False),
        _fk("held_media", "scan_id", "scans"),
        _fk("held_media", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("scan_id", name=op.f("pk_held_media")),
    )
    op.create_index(
        op.f("ix_held_media_tenant_id_priority_held_at"),
        "held_media",
        ["tenant_id", "priority", "held_at"],
        unique=False,
    )
    op.create_index(op.f("ix_held_media_kept_until"), "held_media", ["kept_until"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_held_media_kept_until"), table_name="held_media")
    op.drop_index(op.f("ix_held_media_tenant_id_priority_held_at"), table_name="held_media")
    op.drop_table("held_media")
    op.drop_index(op.f("ix_review_views_tenant_id_user_id_at"), table_name="review_views")
    op.drop_table("review_views")
    op.drop_table("reviews")
    op.drop_table("ui_settings")
    op.drop_table("user_sessions")
    op.drop_table("users")

"""Video banks (vPDQ frames, per-bank match shares) and durable scan jobs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Written out in full, like 0001: it must keep meaning what it meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _id(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=40), nullable=nullable)


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("banks") as batch:
        batch.add_column(
            sa.Column("vpdq_query_pct", sa.Integer(), nullable=False, server_default="80")
        )
        batch.add_column(
            sa.Column("vpdq_index_pct", sa.Integer(), nullable=False, server_default="0")
        )

    op.create_index(
        "ix_bank_entries_vpdq",
        "bank_entries",
        ["bank_id", "seq"],
        sqlite_where=sa.text("signal = 'vpdq'"),
        postgresql_where=sa.text("signal = 'vpdq'"),
    )
    op.create_table(
        "video_frames",
        sa.Column(
            "entry_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("pdq", sa.String(length=64), nullable=False),
        sa.Column("timestamp_s", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_seq"],
            ["bank_entries.seq"],
            name="fk_video_frames_entry_seq_bank_entries",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_seq", "frame", name="pk_video_frames"),
    )

    op.create_table(
        "jobs",
        _id("id"),
        _id("tenant_id"),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        _at("lease_until", nullable=True),
        _id("scan_id", nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _at("finished_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_jobs_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_state_created_at", "jobs", ["state", "created_at"])
    op.create_index("ix_jobs_tenant_id_created_at", "jobs", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("video_frames")
    op.drop_index("ix_bank_entries_vpdq", "bank_entries")
    with op.batch_alter_table("banks") as batch:
        batch.drop_column("vpdq_index_pct")
        batch.drop_column("vpdq_query_pct")

"""Scans linked to their uploader (a source), and items escalated after their deadline.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Written out in full: it must keep meaning what it meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_scans",
        sa.Column("scan_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("source_id", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_source_scans_scan_id_scans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_source_scans_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_source_scans_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scan_id", name=op.f("pk_source_scans")),
    )
    op.create_index(
        op.f("ix_source_scans_source_id_created_at"),
        "source_scans",
        ["source_id", "created_at"],
        unique=False,
    )
    with op.batch_alter_table("case_items") as batch:
        batch.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_items") as batch:
        batch.drop_column("escalated_at")
    op.drop_index(op.f("ix_source_scans_source_id_created_at"), table_name="source_scans")
    op.drop_table("source_scans")

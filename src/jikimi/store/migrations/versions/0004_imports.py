"""A record of every bank import: who, which file, how far it got, how it ended.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Written out in full, like the others: it must keep meaning what it meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _id(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=40), nullable=False)


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "imports",
        _id("id"),
        _id("tenant_id"),
        _id("bank_id"),
        _id("key_id"),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        _count("file_bytes"),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        _count("rows_done"),
        _count("added"),
        _count("duplicates"),
        _count("error_count"),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("failure", sa.JSON(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        _at("lease_until", nullable=True),
        _at("started_at"),
        _at("updated_at"),
        _at("finished_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_imports_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name="fk_imports_bank_id_banks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_imports"),
    )
    op.create_index(
        "ix_imports_tenant_id_bank_id_started_at", "imports", ["tenant_id", "bank_id", "started_at"]
    )
    op.create_index("ix_imports_state_lease_until", "imports", ["state", "lease_until"])


def downgrade() -> None:
    op.drop_table("imports")

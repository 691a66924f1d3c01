"""Initial schema: tenants, API keys, banks and their entries, change log, scans.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Written out in full (no imports from ``jikimi.store.models``): a migration must
keep meaning what it meant when it was written, whatever the models become.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id(name: str, **kw: object) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=40), nullable=False, **kw)  # type: ignore[arg-type]


def _big_id(name: str) -> sa.Column[int]:
    return sa.Column(
        name,
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "tenants",
        _id("id"),
        sa.Column("name", sa.String(length=64), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("name", name="uq_tenants_name"),
    )
    op.create_table(
        "api_keys",
        _id("id"),
        _id("tenant_id"),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        _at("created_at"),
        _at("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_api_keys_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])

    op.create_table(
        "banks",
        _id("id"),
        _id("tenant_id"),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pdq_threshold", sa.Integer(), nullable=False),
        sa.Column("dihedral", sa.Boolean(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("keep_evidence", sa.Boolean(), nullable=False),
        sa.Column("entry_count", sa.BigInteger(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_banks_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_banks"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_banks_tenant_id_name"),
    )
    op.create_table(
        "bank_shares",
        _id("bank_id"),
        _id("tenant_id"),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name="fk_bank_shares_bank_id_banks", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_bank_shares_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bank_id", "tenant_id", name="pk_bank_shares"),
    )
    op.create_index("ix_bank_shares_tenant_id", "bank_shares", ["tenant_id"])

    op.create_table(
        "bank_entries",
        _big_id("seq"),
        _id("id"),
        _id("bank_id"),
        sa.Column("signal", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("dedupe_key", sa.LargeBinary(length=16), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("media_sha256", sa.String(length=64), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name="fk_bank_entries_bank_id_banks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_bank_entries"),
        sa.UniqueConstraint("dedupe_key", name="uq_bank_entries_dedupe_key"),
        sa.UniqueConstraint("id", name="uq_bank_entries_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_bank_entries_bank_id_seq", "bank_entries", ["bank_id", "seq"])

    op.create_table(
        "changes",
        _big_id("id"),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("entry_seq", sa.BigInteger(), nullable=False),
        _id("bank_id"),
        sa.Column("signal", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        _at("at"),
        sa.PrimaryKeyConstraint("id", name="pk_changes"),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "scans",
        _id("id"),
        _id("tenant_id"),
        _at("created_at"),
        sa.Column("verdict", sa.JSON(), nullable=False),
        sa.Column("pdq", sa.String(length=64), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_scans_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_scans"),
    )
    op.create_index("ix_scans_md5", "scans", ["md5"])
    op.create_index("ix_scans_pdq", "scans", ["pdq"])
    op.create_index("ix_scans_sha256", "scans", ["sha256"])
    op.create_index("ix_scans_tenant_id_created_at", "scans", ["tenant_id", "created_at"])

    op.create_table(
        "scan_matches",
        _id("scan_id"),
        sa.Column(
            "entry_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("distance", sa.Integer(), nullable=False),
        _at("found_at"),
        sa.ForeignKeyConstraint(
            ["entry_seq"],
            ["bank_entries.seq"],
            name="fk_scan_matches_entry_seq_bank_entries",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scans.id"], name="fk_scan_matches_scan_id_scans", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("scan_id", "entry_seq", name="pk_scan_matches"),
    )
    op.create_index("ix_scan_matches_entry_seq", "scan_matches", ["entry_seq"])


def downgrade() -> None:
    for table in (
        "scan_matches",
        "scans",
        "changes",
        "bank_entries",
        "bank_shares",
        "banks",
        "api_keys",
        "tenants",
    ):
        op.drop_table(table)

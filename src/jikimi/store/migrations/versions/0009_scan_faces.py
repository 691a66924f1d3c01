"""Retroactive face matching: sealed templates of scanned faces, and late person matches.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Written out in full, like 0001: it must keep meaning what it meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _id(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=40), nullable=nullable)


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "scan_faces",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        _id("scan_id"),
        _id("tenant_id"),
        sa.Column("face", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        _at("created_at"),
        _fk("scan_faces", "scan_id", "scans"),
        _fk("scan_faces", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_faces")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_scan_faces_tenant_id_created_at"),
        "scan_faces",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_scan_faces_created_at"), "scan_faces", ["created_at"], unique=False)
    op.create_index(op.f("ix_scan_faces_scan_id"), "scan_faces", ["scan_id"], unique=False)
    op.create_table(
        "scan_person_matches",
        _id("scan_id"),
        sa.Column("face", sa.Integer(), nullable=False),
        _id("person_id"),
        _id("tenant_id"),
        sa.Column("similarity", sa.Float(), nullable=False),
        _at("found_at"),
        _fk("scan_person_matches", "scan_id", "scans"),
        _fk("scan_person_matches", "person_id", "persons"),
        _fk("scan_person_matches", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint(
            "scan_id", "face", "person_id", name=op.f("pk_scan_person_matches")
        ),
    )
    op.create_index(
        op.f("ix_scan_person_matches_person_id"),
        "scan_person_matches",
        ["person_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_scan_person_matches_person_id"), table_name="scan_person_matches")
    op.drop_table("scan_person_matches")
    op.drop_index(op.f("ix_scan_faces_scan_id"), table_name="scan_faces")
    op.drop_index(op.f("ix_scan_faces_created_at"), table_name="scan_faces")
    op.drop_index(op.f("ix_scan_faces_tenant_id_created_at"), table_name="scan_faces")
    op.drop_table("scan_faces")

"""Persons enrolled for face protection: consent, sealed templates, their record.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Written out in full, like 0001: it must keep meaning what it meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _id(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=40), nullable=nullable)


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _big_id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "persons",
        _id("id"),
        _id("tenant_id"),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("consent_text", sa.Text(), nullable=False),
        _id("consent_by"),
        _at("consent_at"),
        _at("created_at"),
        _at("withdrawn_at", nullable=True),
        _id("withdrawn_by", nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_persons_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    op.create_index(
        op.f("ix_persons_tenant_id_status"), "persons", ["tenant_id", "status"], unique=False
    )
    op.create_table(
        "person_templates",
        _big_id(),
        _id("person_id"),
        _id("tenant_id"),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("photo_sha256", sa.String(length=64), nullable=False),
        sa.Column("face_px", sa.Integer(), nullable=False),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_person_templates_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_person_templates_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_templates")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_person_templates_person_id"), "person_templates", ["person_id"], unique=False
    )
    op.create_table(
        "person_events",
        _big_id(),
        _id("person_id"),
        _id("tenant_id"),
        sa.Column("kind", sa.String(length=16), nullable=False),
        _id("actor"),
        _at("at"),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_events")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_person_events_person_id_id"), "person_events", ["person_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_person_events_person_id_id"), table_name="person_events")
    op.drop_table("person_events")
    op.drop_index(op.f("ix_person_templates_person_id"), table_name="person_templates")
    op.drop_table("person_templates")
    op.drop_index(op.f("ix_persons_tenant_id_status"), table_name="persons")
    op.drop_table("persons")

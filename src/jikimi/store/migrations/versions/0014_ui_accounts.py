"""The web UI, second part: password resets, TOTP replay and recovery codes, escalations,
import totals shared by replicas.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

Written out in full: it must keep meaning what it meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.String(length=40)
_ADDED = (
    ("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True)),
    ("reviews", sa.Column("escalated_by", sa.String(length=64), nullable=True)),
    ("reviews", sa.Column("escalated_at", _TS, nullable=True)),
    ("reviews", sa.Column("escalation_reason", sa.String(length=1000), nullable=True)),
)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    for table, column in _ADDED:
        op.add_column(table, column)
    op.create_table(
        "recovery_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("used_at", _TS, nullable=True),
        _fk("recovery_codes", "user_id", "users"),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_recovery_codes")),
    )
    op.create_index(op.f("ix_recovery_codes_user_id"), "recovery_codes", ["user_id"], unique=False)
    op.create_table(
        "password_resets",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("used_at", _TS, nullable=True),
        _fk("password_resets", "user_id", "users"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_password_resets")),
    )
    op.create_index(
        op.f("ix_password_resets_user_id"), "password_resets", ["user_id"], unique=False
    )
    op.create_table(
        "ui_import_totals",
        sa.Column("import_id", _ID, nullable=False),
        sa.Column("total_rows", sa.BigInteger(), nullable=False),
        _fk("ui_import_totals", "import_id", "imports"),
        sa.PrimaryKeyConstraint("import_id", name=op.f("pk_ui_import_totals")),
    )


def downgrade() -> None:
    op.drop_table("ui_import_totals")
    op.drop_index(op.f("ix_password_resets_user_id"), table_name="password_resets")
    op.drop_table("password_resets")
    op.drop_index(op.f("ix_recovery_codes_user_id"), table_name="recovery_codes")
    op.drop_table("recovery_codes")
    # Not batch mode: on SQLite that re-creates the table, and dropping the old one
    # would cascade to the rows that refer to it (foreign keys are on).
    conn = op.get_bind()
    for table, column in reversed(_ADDED):
        if conn.dialect.name == "sqlite":
            conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column.name}"))
        else:
            op.drop_column(table, column.name)

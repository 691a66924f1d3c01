"""The regulator a host answers to (copied on escalations), and whom a notice copies.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

Written out in full: it must keep meaning what it meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (see downgrade): hosts and notices have rows that refer to them.
    op.add_column("hosts", sa.Column("regulator", sa.JSON(), nullable=True))
    op.add_column("notices", sa.Column("copy_to", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite that re-creates the tables, and dropping the old ones
    # would cascade to (or be refused by) the rows that refer to them.
    conn = op.get_bind()
    for table, column in (("notices", "copy_to"), ("hosts", "regulator")):
        if conn.dialect.name == "sqlite":
            conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        else:
            op.drop_column(table, column)

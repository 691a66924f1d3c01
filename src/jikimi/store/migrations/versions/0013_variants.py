"""Re-shared copies: a bank's ``variants`` setting and each entry's variant hashes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

Existing banks get ``variants`` on, as new ones do: their uploads are then also looked
up trimmed, found in a frame and turned back (query side), which needs nothing from
their entries. Entries get no variant hashes here (they need the media):
``jikimi bank reindex BANK`` computes them where the bank kept the media.

Written out in full: it must keep meaning what it meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode: on SQLite batch mode may re-create a table,
    # and dropping the old ``banks`` would cascade to every entry.
    op.add_column(
        "banks", sa.Column("variants", sa.Boolean(), server_default=sa.true(), nullable=False)
    )
    op.add_column("bank_entries", sa.Column("variants", sa.Text(), nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite that re-creates the tables, and dropping the old ones
    # would cascade to the rows that refer to them (foreign keys are on).
    conn = op.get_bind()
    for table in ("bank_entries", "banks"):
        if conn.dialect.name == "sqlite":
            conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN variants"))
        else:
            op.drop_column(table, "variants")

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
    with op.batch_alter_table("banks") as batch:
        batch.add_column(
            sa.Column("variants", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    with op.batch_alter_table("bank_entries") as batch:
        batch.add_column(sa.Column("variants", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bank_entries") as batch:
        batch.drop_column("variants")
    with op.batch_alter_table("banks") as batch:
        batch.drop_column("variants")

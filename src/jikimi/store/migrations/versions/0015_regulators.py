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
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("regulator", sa.JSON(), nullable=True))
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("copy_to", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("copy_to")
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("regulator")

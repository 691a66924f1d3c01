"""Banks get ``variants``: also match re-shared copies in a frame (on by default).

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-01

Written on a branch whose last revision was 0003; the lead re-chains
``down_revision`` onto the last revision at merge (the number is reserved).

With ``variants`` on, a scan also looks the bank up with the PDQ of the upload
with its frame cut off (uniform borders, letterbox, caption bars, screenshot
chrome; see ``jikimi.signals.variants``). Existing banks get it too: it only adds
matches, each at the bank's own threshold, and needs nothing re-indexed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0003"  # the lead re-chains this at merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("banks") as batch:
        batch.add_column(
            sa.Column("variants", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("banks") as batch:
        batch.drop_column("variants")

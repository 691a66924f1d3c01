"""The table that replaces per-process files: leases, watermarks, key fingerprints.

Several ``jikimi serve`` processes on different machines share one database and
nothing else. Whatever one of them once kept in its data directory and the others
must agree on is a row of ``shared_state`` (see :mod:`jikimi.store.shared`):

- ``lease:<name>``: who runs a singleton background task (retroactive matching),
  until when (renewed while it runs; another process takes over once it lapses);
- ``watermark:<name>``: how far such a task got (an integer, as text);
- ``key:<name>``: the fingerprint (never the key) of a key every process must hold
  the same copy of, so a replica started with a different key refuses to start.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from jikimi.store.models import Base


class SharedStateRow(Base):
    """One named value, optionally leased to one process."""

    __tablename__ = "shared_state"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    value: Mapped[str | None] = mapped_column(sa.Text)
    owner: Mapped[str | None] = mapped_column(sa.String(80))
    lease_until: Mapped[datetime | None]
    updated_at: Mapped[datetime]

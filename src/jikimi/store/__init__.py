"""Storage: SQLAlchemy models, repositories, Alembic migrations, and the blob store.

SQLite by default (a file in the data directory, WAL mode), PostgreSQL when
``JIKIMI_DATABASE_URL`` says so; the same schema on both through Alembic.
Nothing in here opens a connection at import time.

Public surface::

    store = Store.from_settings(settings)      # engine + sessions + blobs
    migrate(settings)                          # Alembic upgrade head
    with store.session(write=True) as s, s.begin():
        banks.create_bank(s, ...)              # repositories: jikimi.store.{tenants,
                                               # banks, entries, scans}; never commit

ORM rows stay inside this package: repositories return :mod:`jikimi.domain` types.
"""

from __future__ import annotations

# The casework tables live in their own module; importing it here puts them in
# Base.metadata for every user of the store (migrations, tests), with no cycle.
from jikimi.store import case_models as _case_models  # noqa: F401
from jikimi.store import face_models as _face_models  # noqa: F401
from jikimi.store import shared_models as _shared_models  # noqa: F401
from jikimi.store import ui_models as _ui_models  # noqa: F401
from jikimi.store.blobs import Blobs, BlobStore, open_blobs
from jikimi.store.engine import make_engine
from jikimi.store.migrate import migrate, upgrade
from jikimi.store.session import Store

__all__ = ["BlobStore", "Blobs", "Store", "make_engine", "migrate", "open_blobs", "upgrade"]

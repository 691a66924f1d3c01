"""``Store``: the database engine, its session factories and the blob store, together.

Services receive one ``Store`` and own their transactions with it::

    with store.session(write=True) as s, s.begin():
        ...  # repository calls; commit on success, rollback on any error

Repositories take the ``Session`` and never commit. ``write=True`` matters on
SQLite only (``BEGIN IMMEDIATE``, see :mod:`jikimi.store.engine`).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from jikimi.config import Settings
from jikimi.store.blobs import Blobs, open_blobs
from jikimi.store.engine import WRITE_OPTION, make_engine


class Store:
    """Session factories over one engine, plus the blob store (filesystem or S3)."""

    def __init__(self, engine: Engine, blobs: Blobs) -> None:
        self.engine = engine
        self.blobs = blobs
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """Connect to ``settings.database_url`` (no migration: see :func:`migrate`)."""
        return cls(make_engine(settings.database_url), open_blobs(settings))

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def session(self, *, write: bool = False) -> Session:
        """A new session; pass ``write=True`` when the transaction will write."""
        return (self._write if write else self._read)()

    def close(self) -> None:
        """Close pooled connections (end of process, end of a test)."""
        self.engine.dispose()

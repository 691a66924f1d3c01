"""Engine factory: one place that knows the differences between SQLite and PostgreSQL.

SQLite (the zero-setup default) is tuned on every new connection: WAL mode so
readers never block the writer, foreign keys on (SQLite ignores them
otherwise), a busy timeout so concurrent writers wait instead of failing, and
SQLAlchemy rather than the ``sqlite3`` driver emits ``BEGIN`` so that reads are
inside the transaction too. Sessions opened for writing start with
``BEGIN IMMEDIATE``: they take the write lock up front, so a read-then-write
service call waits its turn instead of failing half-way with "database is
locked". PostgreSQL needs none of this.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from jikimi.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 15_000
SQLITE_CACHE_KIB = 65_536
"""Page cache per connection: big enough that bulk imports stay off the disk."""

SQLITE_WAL_AUTOCHECKPOINT_PAGES = 16_384
"""Checkpoint the WAL every 64 MiB rather than SQLite's 4 MiB: a bulk import rewrites the
same index pages batch after batch, and a checkpoint copies each page once however
often it changed, so rarer checkpoints save most of the writing."""

WRITE_OPTION = "jikimi_write"
"""Execution option marking a connection that will write (SQLite: ``BEGIN IMMEDIATE``)."""


def normalize_url(url: str) -> URL:
    """Parse ``url``; a bare ``postgresql://`` means the psycopg 3 driver we ship."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"invalid database URL: {exc}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported database {parsed.drivername!r}: use sqlite or postgresql")
    return parsed


def make_engine(url: str) -> Engine:
    """An engine for ``url``; creates the SQLite file's directory if needed."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return sa.create_engine(parsed, pool_pre_ping=True)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Driver autocommit: SQLAlchemy emits BEGIN itself (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never corrupt
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    write = bool(conn.get_execution_options().get(WRITE_OPTION, False))
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

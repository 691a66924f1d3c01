"""Engine factory: one place that knows the differences between SQLite and PostgreSQL.

SQLite (the zero-setup default) is tuned on every new connection: WAL mode so
readers never block the writer, foreign keys on (SQLite ignores them
otherwise), a busy timeout so concurrent writers wait instead of failing, and
SQLAlchemy rather than the ``sqlite3`` driver emits ``BEGIN`` so that reads are
inside the transaction too. Sessions opened for writing start with
``BEGIN IMMEDIATE``: they take the write lock up front, so a read-then-write
service call waits its turn instead of failing half-way with "database is
locked". PostgreSQL needs none of this.

The wait for the write lock is ours, not SQLite's: SQLite's busy handler sleeps
1, 2, 5, 10 … up to 100 ms between tries, so a writer whose turn came after a
fraction of a millisecond often slept for tens (two processes writing small
transactions, the API's workers and ``jikimi worker``, lost seconds a minute that
way). ``BEGIN IMMEDIATE`` is tried without SQLite's timeout and retried after
0.1 ms, doubling to at most 2 ms, for up to the same 15 s.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from jikimi.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 15_000
WRITE_LOCK_RETRY_S = (0.0001, 0.002)
"""First and longest pause between tries for the write lock (see the module's text)."""
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
    if not conn.get_execution_options().get(WRITE_OPTION, False):
        conn.exec_driver_sql("BEGIN")
        return
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        _begin_immediate(cursor)
    finally:
        cursor.close()


def _begin_immediate(cursor: Any) -> None:
    """``BEGIN IMMEDIATE``, waiting for the write lock in short steps (module text)."""
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        pause, longest = WRITE_LOCK_RETRY_S
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, exc) from exc
            time.sleep(pause)
            pause = min(pause * 2, longest)
    finally:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

"""SQLite's write lock: a writer waits its turn in short steps, and gives up with
SQLAlchemy's error after the busy timeout."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from jikimi.store import engine as engine_module
from jikimi.store.engine import WRITE_OPTION, make_engine


def _engine(tmp_path: Path) -> sa.Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    return engine


def test_a_second_writer_waits_for_the_first_then_writes(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    holding, release, order = threading.Event(), threading.Event(), []

    def first() -> None:
        with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            holding.set()
            release.wait(10)
            order.append("first commits")

    thread = threading.Thread(target=first)
    thread.start()
    assert holding.wait(10)
    threading.Timer(0.2, release.set).start()
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        order.append("second begins")  # only once the first committed
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    thread.join()
    assert order == ["first commits", "second begins"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM t ORDER BY n").scalars().all() == [1, 2]
    # the connection's own busy timeout is back for its other statements
    with engine.connect() as conn:
        timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert timeout == engine_module.SQLITE_BUSY_TIMEOUT_MS


def test_a_writer_gives_up_after_the_timeout_with_sqlalchemys_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(tmp_path)
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 100)
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as holder, holder.begin():
        holder.exec_driver_sql("INSERT INTO t VALUES (1)")
        with (
            pytest.raises(sa.exc.OperationalError, match="locked"),
            engine.connect().execution_options(**{WRITE_OPTION: True}) as conn,
            conn.begin(),
        ):
            pass

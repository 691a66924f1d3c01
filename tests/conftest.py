"""Shared fixtures: every database test runs on SQLite *and* PostgreSQL.

``database_url`` is parametrised ``[sqlite]`` / ``[postgresql]`` and gives a
migrated, empty database per test: SQLite as a copy of a migrated template
file; PostgreSQL as one database per test session (random name, dropped at
the end) whose tables are truncated before each test.

PostgreSQL is looked for at ``JIKIMI_TEST_POSTGRES_URL`` (default: the local
server, user ``postgres``, trust auth). When it is unreachable its tests are
skipped, unless ``JIKIMI_REQUIRE_POSTGRES=1`` (set by CI), which makes them fail.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from jikimi.config import Settings
from jikimi.store import Store, make_engine, upgrade
from jikimi.store.models import Base

PG_ADMIN_URL = os.environ.get(
    "JIKIMI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _require_postgres() -> bool:
    return os.environ.get("JIKIMI_REQUIRE_POSTGRES", "") in ("1", "true", "yes")


def _pg_admin() -> sa.Engine:
    return sa.create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )


def _create_pg_database() -> str | None:
    """A new empty database; ``None`` (or a test failure when required) if PG is unreachable."""
    name = f"jikimi_test_{secrets.token_hex(6)}"
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        if _require_postgres():
            pytest.fail(
                f"PostgreSQL is required (JIKIMI_REQUIRE_POSTGRES=1) but unreachable: {exc}"
            )
        return None
    finally:
        admin.dispose()
    return sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(url: str) -> None:
    name = sa.make_url(url).database
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str | None]:
    """This session's migrated PostgreSQL database (``None`` when unavailable)."""
    url = _create_pg_database()
    if url is None:
        yield None
        return
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    yield url
    _drop_pg_database(url)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that tests copy (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "jikimi.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()  # the last close checkpoints the WAL into the file
    return path


def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '20s'")
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database for this test, on each backend in turn."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "db" / "jikimi.db"
        path.parent.mkdir()
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url: str | None = request.getfixturevalue("_postgres_url")
    if url is None:
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL} (JIKIMI_REQUIRE_POSTGRES unset)")
    _truncate_all(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (for migration tests), on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty' / 'jikimi.db'}"
        return
    url = _create_pg_database()
    if url is None:
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL} (JIKIMI_REQUIRE_POSTGRES unset)")
    yield url
    _drop_pg_database(url)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings of a test process: its own data directory and database."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """A :class:`Store` on the test's database; connections closed afterwards."""
    opened = Store.from_settings(settings)
    yield opened
    opened.close()


CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"
PROVENANCE_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "provenance"


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI the conformance data and the provenance corpus beside the repo are mandatory:
    their tests must not skip."""
    required = os.environ.get("JIKIMI_REQUIRE_CONFORMANCE", "") in ("1", "true", "yes")
    if required and not (CONFORMANCE / "pdq" / "expected.csv").is_file():
        pytest.exit(f"conformance data missing at {CONFORMANCE}", returncode=1)
    # The same for the provenance corpus (tests/test_corpus_provenance.py).
    corpus_required = os.environ.get("JIKIMI_REQUIRE_CORPUS", "") in ("1", "true", "yes")
    if corpus_required and not (PROVENANCE_CORPUS / "MANIFEST.csv").is_file():
        pytest.exit(f"provenance corpus missing at {PROVENANCE_CORPUS}", returncode=1)

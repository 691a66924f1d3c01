"""Fixtures of the API tests: a real app on a real database, two tenants, every role.

The app runs in-process behind Starlette's test client (its lifespan runs, so the
services, the matching service and the database pool are the production ones).
``world`` gives two tenants, each with a key per role, a bank with one entry and
one scan, so tests can act as anyone and check that nobody sees the other side.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import TestClient, World, make_side

from jikimi.api.app import create_app
from jikimi.api.scanning import LazyScanner
from jikimi.config import Settings
from jikimi.store import Store


@pytest.fixture(scope="session")
def shared_scanner() -> LazyScanner:
    """One scanner (one model load) for every app of the session."""
    return LazyScanner(Settings())


def _sqlite_settings(directory: Path, template: Path) -> Settings:
    path = directory / "db" / "jikimi.db"
    path.parent.mkdir(parents=True)
    shutil.copyfile(template, path)
    return Settings(data_dir=directory / "data", database_url=f"sqlite:///{path}")


@pytest.fixture
def sqlite_settings(tmp_path: Path, _sqlite_template: Path) -> Settings:
    """Settings on a fresh migrated SQLite file (for tests that need one backend only)."""
    return _sqlite_settings(tmp_path, _sqlite_template)


@pytest.fixture
def app_client(settings: Settings, shared_scanner: LazyScanner) -> Iterator[TestClient]:
    """The app on the test's database (each backend in turn), started and stopped."""
    with TestClient(create_app(settings, scanner=shared_scanner)) as client:
        yield client


@pytest.fixture
def sqlite_client(sqlite_settings: Settings, shared_scanner: LazyScanner) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_settings, scanner=shared_scanner)) as client:
        yield client


def _world(client: TestClient, settings: Settings) -> Iterator[World]:
    store = Store.from_settings(settings)
    try:
        a = make_side(client, store, "acme", "A_BANK", seed=1)
        b = make_side(client, store, "bravo", "B_BANK", seed=2)
        yield World(client=client, store=store, settings=settings, a=a, b=b)
    finally:
        store.close()


@pytest.fixture
def world(app_client: TestClient, settings: Settings) -> Iterator[World]:
    """Two tenants on each database backend."""
    yield from _world(app_client, settings)


@pytest.fixture(scope="module")
def sqlite_world(
    tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path, shared_scanner: LazyScanner
) -> Iterator[World]:
    """Two tenants on SQLite, shared by the tests of a module (they must not rely on
    each other's changes)."""
    settings = _sqlite_settings(tmp_path_factory.mktemp("world"), _sqlite_template)
    with TestClient(create_app(settings, scanner=shared_scanner)) as client:
        yield from _world(client, settings)

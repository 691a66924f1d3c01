"""Run the Alembic migrations shipped inside the package, without an ``alembic.ini``.

``jikimi serve`` and ``make run`` call :func:`migrate` at start-up; it works from
an installed wheel because the script directory is located through the package,
not the current directory. On PostgreSQL an advisory lock keeps two processes
starting at once from migrating at the same time.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from jikimi.config import Settings
from jikimi.store.engine import WRITE_OPTION, make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_MIGRATION_LOCK = 0x6A696B696D69  # "jikimi"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the packaged scripts; ``connection`` is used by ``env.py``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` in one transaction."""
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(conn), revision)


def migrate(settings: Settings) -> None:
    """Bring ``settings.database_url`` to the latest schema (creates the SQLite file)."""
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()

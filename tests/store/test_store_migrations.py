"""Alembic migrations: from an empty database to the models' schema, on both backends."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from jikimi.config import Settings
from jikimi.store import make_engine, migrate, upgrade
from jikimi.store.migrate import alembic_config
from jikimi.store.models import Base


def _diff(url: str, metadata: sa.MetaData = Base.metadata) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _head() -> str:
    """The newest revision shipped (one head: the chain never forks)."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migrations fork: {heads}"
    return heads[0]


def test_upgrade_from_empty_matches_the_models(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        upgrade(engine)
        upgrade(engine)  # a second run is a no-op, not an error
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    assert version == _head()
    assert _diff(empty_database_url) == []


def test_the_comparison_would_see_a_difference(database_url: str) -> None:
    """Guard for the test above: a model change without a migration is reported."""
    changed = sa.MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    sa.Table("banks", changed).append_column(sa.Column("colour", sa.String(10)))
    diff = _diff(database_url, changed)
    assert any("colour" in repr(d) for d in diff)


def test_migrate_creates_the_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "deep" / "data")
    migrate(settings)
    assert (tmp_path / "deep" / "data" / "jikimi.db").is_file()
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        engine.dispose()
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["foreign_keys"] == 1
    assert isinstance(pragmas["busy_timeout"], int) and pragmas["busy_timeout"] > 0


def test_0004_adds_the_imports_table_and_downgrade_removes_it(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        upgrade(engine, "0003")
        assert "imports" not in sa.inspect(engine).get_table_names()
        upgrade(engine)
        assert "imports" in sa.inspect(engine).get_table_names()
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0003")
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        assert version == "0003"
        inspector = sa.inspect(engine)
        assert "imports" not in inspector.get_table_names()
        assert "banks" in inspector.get_table_names()  # nothing else went with it
        upgrade(engine)
    finally:
        engine.dispose()
    assert _diff(empty_database_url) == []

"""Alembic environment: runs on the connection that :mod:`jikimi.store.migrate` opened."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from jikimi.store.models import Base


def run() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run migrations through jikimi.store.migrate (no alembic.ini here)")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite can't ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()

"""``jikimi serve`` and ``jikimi migrate``: run the HTTP API (after migrating the database).

The server is uvicorn running the :func:`jikimi.api.app.create_app_from_env`
factory, so each worker process builds its own app (its own database pool,
scanner and matching index) from the same ``JIKIMI_*`` settings.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

from jikimi.config import Settings, load_settings
from jikimi.detectors.grade.onnx import threads_per_process
from jikimi.errors import JikimiError

EXIT_OK, EXIT_USAGE = 0, 2
APP_FACTORY = "jikimi.api.app:create_app_from_env"


def _settings(err: Console) -> Settings:
    try:
        return load_settings()
    except Exception as exc:  # pydantic ValidationError: a bad JIKIMI_* variable
        err.print(f"[red]error:[/] invalid settings: {exc}")
        raise typer.Exit(EXIT_USAGE) from exc


def _migrate(settings: Settings, err: Console) -> None:
    from jikimi.store.migrate import migrate as run_migrations

    try:
        run_migrations(settings)
    except JikimiError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(EXIT_USAGE) from exc


def _share_cores(workers: int, settings: Settings) -> None:
    """Give each worker its share of the cores for the grade model.

    "Auto" threads means every core *of this process*; with several worker
    processes that oversubscribes the machine (measured on 2 cores, 2 workers:
    24 scans/s with auto threads, 33 with one thread each). The workers inherit
    the environment, so the share is passed as ``JIKIMI_GRADE_THREADS``.
    """
    if workers > 1 and settings.grade_threads == 0:
        os.environ["JIKIMI_GRADE_THREADS"] = str(threads_per_process(workers))


def migrate() -> None:
    """Create or upgrade the database schema (SQLite file or JIKIMI_DATABASE_URL)."""
    err = Console(stderr=True)
    settings = _settings(err)
    _migrate(settings, err)
    err.print("database is up to date")


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on (default: JIKIMI_API_HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="TCP port (default: JIKIMI_API_PORT)."),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (each loads the models and index).")
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log")] = True,
) -> None:
    """Migrate the database, then serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    err = Console(stderr=True)
    settings = _settings(err)
    _migrate(settings, err)
    _share_cores(workers, settings)
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
    )

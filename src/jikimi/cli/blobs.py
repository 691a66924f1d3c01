"""``jikimi blobs gc``: orphan blobs (named by no row), reported or deleted.

For the operator on the box (no API key: it looks at every tenant's rows, and the
blobs are the service's, not a tenant's). Dry run unless ``--delete``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer

from jikimi.config import load_settings
from jikimi.services.blob_gc import collect
from jikimi.store import Store, migrate

blobs_app = typer.Typer(help="The blob store (uploads, evidence).", no_args_is_help=True)


@blobs_app.command("gc")
def blobs_gc(
    grace_hours: Annotated[
        float,
        typer.Option("--grace-hours", min=0, help="Keep orphans younger than this (in hours)."),
    ] = 24.0,
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete the orphans (default: only report them).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Find blobs no row names, older than the grace period; delete them with --delete."""
    settings = load_settings()
    migrate(settings)
    store = Store.from_settings(settings)
    try:
        report = collect(store, timedelta(hours=grace_hours), delete=delete)
    finally:
        store.close()
    if as_json:
        areas = [
            {
                "area": a.area,
                "listed": a.listed,
                "referenced": a.referenced,
                "young": a.young,
                "orphans": len(a.orphans),
                "deleted": a.deleted,
            }
            for a in report.areas
        ]
        typer.echo(json.dumps({"dry_run": report.dry_run, "areas": areas}))
        return
    for a in report.areas:
        typer.echo(
            f"{a.area}: {a.listed} blobs, {a.referenced} named by rows, {a.young} too young,"
            f" {len(a.orphans)} orphans, {a.deleted} deleted"
        )
    if report.dry_run and report.orphans:
        typer.echo("dry run: nothing deleted (pass --delete)")


__all__ = ["blobs_app"]

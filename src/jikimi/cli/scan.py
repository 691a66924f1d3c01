"""``jikimi scan PATH...``: scan files and folders, print a table or JSON Lines.

With ``--key`` (or ``$JIKIMI_API_KEY``), or ``--tenant`` for an operator on the
box, files are also matched against that tenant's banks in the configured
database, exactly as ``POST /v1/scan`` would match them (the same bank
snapshot, the same policy), and faces against that tenant's enrolled persons
(her templates opened with the face key, ``JIKIMI_FACE_KEY``, as the API opens
them; ``face_detect`` decides as for the API whether faces are looked for);
``--no-match`` turns both off. Without either, nothing touches the database.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from jikimi.cli.discover import discover
from jikimi.cli.render import Summary, verdict_table
from jikimi.config import Settings, load_settings
from jikimi.domain import Principal, Role, Verdict
from jikimi.errors import JikimiError
from jikimi.faces import TenantFaces
from jikimi.matching.bank_snapshot import BankSnapshot
from jikimi.scale.local import scan_files
from jikimi.services import KeyService, TenantService
from jikimi.services.matching import load_snapshot
from jikimi.services.persons import FaceGallery
from jikimi.store import Store, migrate

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def scan(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (walked recursively).")],
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print one Verdict JSON object per line (JSON Lines).")
    ] = False,
    workers: Annotated[
        int,
        typer.Option("--workers", "-w", min=1, help="Worker processes (models load once each)."),
    ] = 1,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="Progress bar on stderr (default: if a tty)."
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            envvar="JIKIMI_API_KEY",
            help="Match against this API key's banks (default: $JIKIMI_API_KEY).",
            show_default=False,
        ),
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Match against this tenant's banks (operator, no key)."),
    ] = None,
    match: Annotated[
        bool, typer.Option("--match/--no-match", help="Match against the banks (with a key).")
    ] = True,
) -> None:
    """Scan images and videos: grade, AI-generation evidence, hashes, and a decision each."""
    err = Console(stderr=True)
    try:
        settings = load_settings()
    except Exception as exc:  # pydantic ValidationError: a bad JIKIMI_* variable
        err.print(f"[red]error:[/] invalid settings: {exc}")
        raise typer.Exit(EXIT_USAGE) from exc
    if key and tenant:
        err.print("[red]error:[/] give --key or --tenant, not both")
        raise typer.Exit(EXIT_USAGE)

    found = discover(paths)
    if found.missing:
        for p in found.missing:
            err.print(f"[red]error:[/] no such file or folder: {p}")
        raise typer.Exit(EXIT_USAGE)

    banks = None
    faces = None
    if match and (key or tenant):
        try:
            banks, faces = _tenant_stages(settings, key, tenant)
        except JikimiError as exc:
            err.print(f"[red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_USAGE) from exc

    summary = Summary(skipped=len(found.skipped))
    show_bar = progress if progress is not None else (err.is_terminal and len(found.files) > 1)
    out = sys.stdout
    rows: list[Verdict] = []
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("[bold]scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[current]}"),
            console=err,
            disable=not show_bar,
            transient=True,
        ) as bar:
            task = bar.add_task("scan", total=len(found.files), current="")

            def frames_done(source: Mapping[str, Any], done: int, total: int) -> None:
                name = Path(str(source.get("path", ""))).name[-40:]
                bar.update(task, current=f"{name} {done:,}/{total:,} frames")

            progress_hook = frames_done if show_bar else None
            for verdict in scan_files(
                found.files,
                settings,
                workers=workers,
                progress=progress_hook,
                matcher=banks,
                faces=faces,
            ):
                summary.add(verdict)
                if json_lines:
                    out.write(verdict.to_json() + "\n")
                    out.flush()
                else:
                    rows.append(verdict)
                bar.update(task, advance=1, current=str(verdict.source.get("path", ""))[-40:])
    except JikimiError as exc:  # start-up problems: rules file, model file
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(EXIT_USAGE) from exc
    except KeyboardInterrupt:
        err.print(f"[yellow]interrupted[/] after {summary.total} files")
        raise typer.Exit(130) from None
    summary.seconds = time.perf_counter() - started

    if not json_lines and rows:
        Console(markup=False).print(verdict_table(rows))
    if len(found.files) != 1 or not json_lines:
        err.print(summary.render())
    raise typer.Exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)


def _tenant_stages(
    settings: Settings, key: str | None, tenant: str | None
) -> tuple[BankSnapshot, TenantFaces | None]:
    """The tenant's banks and face stage from the configured database (migrated
    first, as ``jikimi bank``), as ``POST /v1/scan`` would use them."""
    migrate(settings)
    store = Store.from_settings(settings)
    try:
        if key:
            principal = KeyService(store).authenticate(key)
        else:
            found = TenantService(store).get(tenant or "")
            principal = Principal(tenant_id=found.id, key_id="operator", role=Role.PLATFORM)
        banks = load_snapshot(store, settings, principal)
        faces = FaceGallery(store, settings).faces_for(principal)
        return banks, faces
    finally:
        store.close()

"""``jikimi scan PATH...``: scan files and folders, print a table or JSON Lines.

With ``--key`` (or ``$JIKIMI_API_KEY``), or ``--tenant`` for an operator on the
box, files are also matched against that tenant's banks in the configured
database, exactly as ``POST /v1/scan`` would match them (the same bank
snapshot, the same policy), and faces against that tenant's enrolled persons
(her templates opened with the face key, ``JIKIMI_FACE_KEY``, as the API opens
them; ``face_detect`` decides as for the API whether faces are looked for);
``--no-match`` turns both off. Without either, nothing touches the database.

``--uploader ID`` (with ``--key`` or ``--tenant``) is ``POST /v1/scan?uploader=ID``
from the command line: the files are scanned by the scan service itself, every
Verdict is stored and counted for that uploader's source, and the policy's source
rules see its standing (``GET /v1/sources/{id}`` then shows the scans).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from jikimi.cli.render import Summary, verdict_table
from jikimi.config import Settings, load_settings
from jikimi.domain import Principal, Verdict
from jikimi.errors import JikimiError
from jikimi.faces import TenantFaces
from jikimi.matching.bank_snapshot import BankSnapshot
from jikimi.pipeline import Item
from jikimi.pipeline.discover import discover
from jikimi.scale.local import scan_files
from jikimi.services.casework import attach_casework
from jikimi.services.local_scan import scan_principal, tenant_stages, who_scans
from jikimi.services.matching import MatchService
from jikimi.services.persons import FaceGallery
from jikimi.services.scans import UPLOADER, LazyScanner, ScanService, check_uploader
from jikimi.store import Store, migrate

if TYPE_CHECKING:
    from jikimi.scale.ray_scan import RayOptions

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
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Scan on this Ray cluster (host:port, or 'local' for one box); needs --out.",
            show_default=False,
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="With --ray: folder for the Verdict JSON Lines files."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="With --ray: skip files whose Verdicts are in --out.")
    ] = False,
    store_scans: Annotated[
        bool,
        typer.Option(
            "--store", help="With --ray and --key/--tenant: also store the scans (idempotent)."
        ),
    ] = False,
    actor_cpus: Annotated[
        float, typer.Option("--actor-cpus", min=0.1, help="With --ray: CPUs per scanning actor.")
    ] = 1.0,
    max_actors: Annotated[
        int | None,
        typer.Option("--max-actors", min=1, help="With --ray: most actors (default: CPUs hold)."),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", min=1, help="With --ray: files per batch (and part file)."),
    ] = None,
    uploader: Annotated[
        str | None,
        typer.Option(
            "--uploader",
            help="With --key/--tenant: the platform's id of the account that uploaded the "
            "files; the scans are stored and count for that source, as POST /v1/scan's.",
            show_default=False,
        ),
    ] = None,
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

    if (ray_address is None) != (out_dir is None):
        err.print("[red]error:[/] --ray and --out go together")
        raise typer.Exit(EXIT_USAGE)
    if (resume or store_scans) and ray_address is None:
        err.print("[red]error:[/] --resume and --store need --ray")
        raise typer.Exit(EXIT_USAGE)
    if store_scans and not (key or tenant):
        err.print("[red]error:[/] --store needs --key or --tenant")
        raise typer.Exit(EXIT_USAGE)

    if uploader is not None:
        if not (key or tenant) or ray_address is not None or not match:
            err.print("[red]error:[/] --uploader needs --key or --tenant (not --ray, --no-match)")
            raise typer.Exit(EXIT_USAGE)
        try:
            named = check_uploader(uploader)
            code = _scan_as_uploader(found.files, settings, key, tenant, named, json_lines, err)
        except JikimiError as exc:
            err.print(f"[red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_USAGE) from exc
        raise typer.Exit(code)

    banks = None
    faces = None
    if match and (key or tenant):
        try:
            banks, faces = tenant_stages(settings, key, tenant)
        except JikimiError as exc:
            err.print(f"[red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_USAGE) from exc

    if ray_address is not None and out_dir is not None:
        from jikimi.scale.ray_scan import RayOptions

        options = RayOptions(
            address=ray_address,
            out_dir=out_dir,
            resume=resume,
            actor_cpus=actor_cpus,
            max_actors=max_actors,
            batch_size=batch_size,
        )
        try:
            owner = who_scans(settings, key, tenant) if store_scans else None
        except JikimiError as exc:
            err.print(f"[red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_USAGE) from exc
        show = progress if progress is not None else err.is_terminal
        raise typer.Exit(_ray_scan(found.files, settings, options, banks, faces, owner, err, show))

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


UPLOADER_BATCH = 8
"""Files read and scanned together with ``--uploader`` (one stored batch each)."""


def _scan_as_uploader(
    files: list[Path],
    settings: Settings,
    key: str | None,
    tenant: str | None,
    uploader: str,
    json_lines: bool,
    err: Console,
) -> int:
    """``--uploader``: scan through the scan service, as ``POST /v1/scan?uploader=`` does.

    The uploader's source is found or made, its standing goes to the policy's source
    rules, and each Verdict is stored and counted for the source (with the
    consequences a stored scan has: re-uploads, outbox, review queue), so the next
    upload, by either door, sees it.
    """
    migrate(settings)
    store = Store.from_settings(settings)
    summary = Summary()
    rows: list[Verdict] = []
    started = time.perf_counter()
    try:
        principal = scan_principal(store, key, tenant)
        matching = MatchService(store, settings)
        matching.load()
        gallery = FaceGallery(store, settings)
        scans = ScanService(
            store,
            LazyScanner(settings),
            matching.matcher_for,
            faces_for=gallery.faces_for,
            keep_faces=gallery.keep_scan_faces,
        )
        attach_casework(scans, store, settings)
        for start in range(0, len(files), UPLOADER_BATCH):
            batch = files[start : start + UPLOADER_BATCH]
            items = [Item(p.read_bytes(), {"path": str(p), UPLOADER: uploader}) for p in batch]
            for verdict in scans.scan_many(principal, items):
                summary.add(verdict)
                if json_lines:
                    sys.stdout.write(verdict.to_json() + "\n")
                    sys.stdout.flush()
                else:
                    rows.append(verdict)
    finally:
        store.close()
    summary.seconds = time.perf_counter() - started
    if rows:
        Console(markup=False).print(verdict_table(rows))
    if len(files) != 1 or not json_lines:
        err.print(summary.render())
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK


def _ray_scan(
    files: list[Path],
    settings: Settings,
    options: RayOptions,
    banks: BankSnapshot | None,
    faces: TenantFaces | None,
    owner: Principal | None,
    err: Console,
    show_bar: bool,
) -> int:
    """``--ray``: the run with a bar of files done, rate and errors; the summary after."""
    from jikimi.scale.ray_scan import ScanSink, run_ray_scan

    summary = Summary(skipped=len(files))
    sink = ScanSink(settings, owner) if owner is not None else None
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]scanning on Ray"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} files/s"),
        TextColumn("[red]{task.fields[errors]} errors"),
        TimeRemainingColumn(),
        console=err,
        disable=not show_bar,
        transient=True,
    ) as bar:
        task = bar.add_task("ray", total=None, rate="-", errors=0)
        t0 = [time.perf_counter()]

        def on_start(todo: int, skipped: int) -> None:
            summary.skipped = skipped
            t0[0] = time.perf_counter()
            bar.update(task, total=todo)

        def on_verdicts(verdicts: Sequence[Verdict]) -> None:
            if sink is not None:
                sink(verdicts)
            for v in verdicts:
                summary.add(v)
            rate = summary.total / max(1e-9, time.perf_counter() - t0[0])
            bar.update(task, advance=len(verdicts), rate=f"{rate:.1f}", errors=summary.failed)

        try:
            stats = run_ray_scan(
                files,
                settings,
                options,
                matcher=banks,
                faces=faces,
                on_verdicts=on_verdicts,
                on_start=on_start,
            )
        except FileExistsError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
            return EXIT_USAGE
        except KeyboardInterrupt:
            err.print(f"[yellow]interrupted[/] after {summary.total} files; rerun with --resume")
            return 130
        finally:
            if sink is not None:
                sink.close()
    summary.seconds = time.perf_counter() - started
    err.print(summary.render())
    if stats.skipped:
        err.print(f"{stats.skipped} files already done (--resume)")
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK

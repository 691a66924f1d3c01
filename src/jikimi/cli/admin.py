"""``jikimi tenant|key|bank …``: administration over the same services as the API.

These commands call the services in this process, against the configured
database (``JIKIMI_DATABASE_URL``, or the SQLite file in the data directory);
no server needs to be running. Every command but ``tenant`` acts as an API key
(``--key`` or ``JIKIMI_API_KEY``), so the role matrix is the API's. The commands on
a bank's entries (``bank add|entries|disable|enable|withdraw``) are in
:mod:`jikimi.cli.entries`, on the same ``bank_app``.

Exit codes: 0 = done; 1 = partly done (an import with rejected rows);
2 = nothing done: bad option, bad key, unknown bank, invalid value, conflict;
130 = an import stopped by Ctrl-C (resume it with ``--resume``).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from jikimi.config import Settings, load_settings
from jikimi.domain import (
    DEFAULT_PDQ_THRESHOLD,
    DEFAULT_VPDQ_INDEX_PCT,
    DEFAULT_VPDQ_QUERY_PCT,
    MAX_PDQ_THRESHOLD,
    Bank,
    BankCreate,
    BankImport,
    BankKind,
    BankUpdate,
    ImportReport,
    Principal,
    Role,
    RowFormat,
)
from jikimi.errors import JikimiError
from jikimi.services import BankService, KeyService, TenantService
from jikimi.services.persons import PersonService
from jikimi.store import Store, migrate

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
_VARIANTS_HELP = "Also match re-shared copies (trimmed, framed, tilted, cropped; docs/matching.md)."
EXIT_INTERRUPTED = 130
"""An import stopped by Ctrl-C (as shells report SIGINT): resumable."""
SHOWN_ROW_ERRORS = 20
"""Row errors printed after an import (the report counts all of them)."""

tenant_app = typer.Typer(help="Tenants (operator only: no API key needed).", no_args_is_help=True)
key_app = typer.Typer(help="API keys of your tenant (admin key).", no_args_is_help=True)
bank_app = typer.Typer(help="Banks of known content and their hashes.", no_args_is_help=True)

KeyOption = Annotated[
    str,
    typer.Option(
        "--key",
        envvar="JIKIMI_API_KEY",
        help="Your API key (jk_…); default: $JIKIMI_API_KEY.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

_err = Console(stderr=True)


@dataclass(frozen=True)
class _Services:
    settings: Settings
    tenants: TenantService
    keys: KeyService
    banks: BankService
    persons: PersonService


@contextmanager
def _services() -> Iterator[_Services]:
    """Services on the configured database (migrated first); user errors exit 2."""
    try:
        settings = load_settings()
    except Exception as exc:  # pydantic ValidationError: a bad JIKIMI_* variable
        _fail(f"invalid settings: {exc}")
    try:
        migrate(settings)
        store = Store.from_settings(settings)
    except JikimiError as exc:
        _fail(exc.message)
    try:
        yield _Services(
            settings=settings,
            tenants=TenantService(store),
            keys=KeyService(store),
            banks=BankService(store, settings=settings),
            persons=PersonService(store, settings),
        )
    except JikimiError as exc:
        _fail(exc.message)
    finally:
        store.close()


def _fail(message: str) -> NoReturn:
    """Print ``error: message`` as one line (not wrapped by Rich: ids stay whole) and exit 2."""
    _err.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


def _confirmed(question: str) -> bool:
    """Ask a yes/no question; no answer (the end of input, Ctrl-C) is a no."""
    try:
        return typer.confirm(question)
    except typer.Abort:
        _err.print()
        return False


def _as(services: _Services, key: str) -> Principal:
    return services.keys.authenticate(key)


def _table(*columns: str) -> Table:
    """A table whose first column (a name or id, what people copy) never wraps."""
    table = Table(header_style="bold")
    for i, column in enumerate(columns):
        table.add_column(column, no_wrap=i == 0, overflow="fold")
    return table


def _print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


# --- tenants ----------------------------------------------------------------------


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="Lower-case name, e.g. 'acme'.")],
) -> None:
    """Create a tenant and print its admin API key (shown this once only)."""
    with _services() as s:
        tenant, issued = s.tenants.create(name)
    _err.print(f"created tenant [bold]{tenant.name}[/] ({tenant.id})", highlight=False)
    _err.print("its admin API key follows; it is shown once and cannot be recovered:")
    sys.stdout.write(issued.secret + "\n")


@tenant_app.command("list")
def tenant_list(as_json: JsonOption = False) -> None:
    """List tenants."""
    with _services() as s:
        tenants = s.tenants.list()
    if as_json:
        _print_json([t.model_dump(mode="json") for t in tenants])
        return
    table = _table("name", "id", "created")
    for t in tenants:
        table.add_row(t.name, t.id, f"{t.created_at:%Y-%m-%d %H:%M}")
    Console(markup=False).print(table)


# --- keys -------------------------------------------------------------------------


@key_app.command("issue")
def key_issue(
    key: KeyOption,
    role: Annotated[Role, typer.Option(help="What the new key may do.")],
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'upload pipeline'.")],
) -> None:
    """Issue an API key in your tenant and print its secret (shown this once only)."""
    with _services() as s:
        issued = s.keys.issue(_as(s, key), role, name)
    _err.print(f"issued {issued.key.role.value} key {issued.key.id}; the secret follows (once):")
    sys.stdout.write(issued.secret + "\n")


@key_app.command("list")
def key_list(key: KeyOption, as_json: JsonOption = False) -> None:
    """List your tenant's API keys (never their secrets)."""
    with _services() as s:
        keys = s.keys.list(_as(s, key))
    if as_json:
        _print_json([k.model_dump(mode="json", exclude={"tenant_id"}) for k in keys])
        return
    table = _table("id", "role", "name", "created", "revoked")
    for k in keys:
        revoked = f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-"
        table.add_row(k.id, k.role.value, k.name, f"{k.created_at:%Y-%m-%d %H:%M}", revoked)
    Console(markup=False).print(table)


@key_app.command("revoke")
def key_revoke(
    key: KeyOption, key_id: Annotated[str, typer.Argument(help="The key_… id to revoke.")]
) -> None:
    """Revoke an API key: its next request is refused."""
    with _services() as s:
        revoked = s.keys.revoke(_as(s, key), key_id)
    _err.print(f"revoked {revoked.id} ({revoked.name})")


# --- banks ------------------------------------------------------------------------


def _bank_table(banks: Sequence[Bank]) -> Table:
    table = _table("name", "kind", "entries", "threshold", "dihedral", "enabled", "labels")
    for b in banks:
        table.add_row(
            b.name,
            b.kind.value,
            str(b.entry_count),
            str(b.pdq_threshold),
            "yes" if b.dihedral else "no",
            "yes" if b.enabled else "no",
            ", ".join(b.labels) or "-",
        )
    return table


@bank_app.command("create")
def bank_create(
    name: Annotated[str, typer.Argument(help="UPPER_CASE name, e.g. KCSC_TAKEDOWNS.")],
    key: KeyOption,
    kind: Annotated[BankKind, typer.Option(help="What a match means.")] = BankKind.TAKEDOWN,
    threshold: Annotated[
        int, typer.Option(help=f"PDQ distance (bits), 0 to {MAX_PDQ_THRESHOLD}.")
    ] = DEFAULT_PDQ_THRESHOLD,
    dihedral: Annotated[
        bool, typer.Option("--dihedral/--no-dihedral", help="Match rotated/flipped copies.")
    ] = False,
    variants: Annotated[bool, typer.Option("--variants/--no-variants", help=_VARIANTS_HELP)] = True,
    label: Annotated[list[str] | None, typer.Option(help="A label (repeatable).")] = None,
    keep_evidence: Annotated[
        bool, typer.Option("--keep-evidence", help="Keep uploaded media of entries.")
    ] = False,
    vpdq_query_pct: Annotated[
        int,
        typer.Option(help="vPDQ: percent of a video's frames that must be in a banked one."),
    ] = DEFAULT_VPDQ_QUERY_PCT,
    vpdq_index_pct: Annotated[
        int,
        typer.Option(help="vPDQ: percent of a banked video's frames that must be matched."),
    ] = DEFAULT_VPDQ_INDEX_PCT,
) -> None:
    """Create a bank."""
    spec = BankCreate(
        name=name,
        kind=kind,
        pdq_threshold=threshold,
        dihedral=dihedral,
        variants=variants,
        labels=tuple(label or ()),
        keep_evidence=keep_evidence,
        vpdq_query_pct=vpdq_query_pct,
        vpdq_index_pct=vpdq_index_pct,
    )
    with _services() as s:
        bank = s.banks.create(_as(s, key), spec)
    _err.print(f"created {bank.kind.value} bank [bold]{bank.name}[/] ({bank.id})", highlight=False)


@bank_app.command("list")
def bank_list(key: KeyOption, as_json: JsonOption = False) -> None:
    """List your banks, then banks shared with you."""
    with _services() as s:
        banks = s.banks.list(_as(s, key))
    if as_json:
        _print_json([b.model_dump(mode="json", exclude={"tenant_id"}) for b in banks])
        return
    Console(markup=False).print(_bank_table(banks))


@bank_app.command("show")
def bank_show(
    name: Annotated[str, typer.Argument(help="Bank name or bnk_… id.")],
    key: KeyOption,
    as_json: JsonOption = False,
) -> None:
    """Show one bank."""
    with _services() as s:
        bank = s.banks.get(_as(s, key), name)
    _print_bank(bank, as_json)


def _print_bank(bank: Bank, as_json: bool) -> None:
    """One bank, as ``bank show`` prints it (``bank update`` prints the result the same way)."""
    if as_json:
        _print_json(bank.model_dump(mode="json", exclude={"tenant_id"}))
        return
    Console(markup=False).print(_bank_table([bank]))


@bank_app.command("update")
def bank_update(
    name: Annotated[str, typer.Argument(help="Bank name or bnk_… id.")],
    key: KeyOption,
    kind: Annotated[BankKind | None, typer.Option(help="What a match means.")] = None,
    threshold: Annotated[
        int | None, typer.Option(help=f"PDQ distance (bits), 0 to {MAX_PDQ_THRESHOLD}.")
    ] = None,
    dihedral: Annotated[
        bool | None,
        typer.Option("--dihedral/--no-dihedral", help="Match rotated/flipped copies."),
    ] = None,
    variants: Annotated[
        bool | None, typer.Option("--variants/--no-variants", help=_VARIANTS_HELP)
    ] = None,
    enabled: Annotated[
        bool | None,
        typer.Option("--enable/--disable", help="Match against the bank, or stop for now."),
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option(help="A label (repeatable); replaces all labels.")
    ] = None,
    clear_labels: Annotated[
        bool, typer.Option("--clear-labels", help="Remove every label.")
    ] = False,
    keep_evidence: Annotated[
        bool | None,
        typer.Option("--keep-evidence/--no-keep-evidence", help="Keep uploaded media of entries."),
    ] = None,
    vpdq_query_pct: Annotated[
        int | None,
        typer.Option(help="vPDQ: percent of a video's frames that must be in a banked one."),
    ] = None,
    vpdq_index_pct: Annotated[
        int | None,
        typer.Option(help="vPDQ: percent of a banked video's frames that must be matched."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a bank's settings: only the options given change; prints the bank."""
    if label and clear_labels:
        _fail("give --label or --clear-labels, not both")
    labels = tuple(label) if label else (() if clear_labels else None)
    update = BankUpdate(
        kind=kind,
        pdq_threshold=threshold,
        dihedral=dihedral,
        variants=variants,
        labels=labels,
        enabled=enabled,
        keep_evidence=keep_evidence,
        vpdq_query_pct=vpdq_query_pct,
        vpdq_index_pct=vpdq_index_pct,
    )
    if update == BankUpdate():
        _fail("nothing to change: give at least one option (see jikimi bank update --help)")
    with _services() as s:
        bank = s.banks.update(_as(s, key), name, update)
    _err.print(f"updated bank [bold]{bank.name}[/]", highlight=False)
    _print_bank(bank, as_json)


@bank_app.command("reindex")
def bank_reindex(
    name: Annotated[str, typer.Argument(help="Bank name or bnk_… id.")],
    key: KeyOption,
    as_json: JsonOption = False,
) -> None:
    """Compute re-share variants (crops, trimmed) for entries banked before them.

    Only entries whose media the bank kept (--keep-evidence) can get them; entries
    banked as a hash alone are still matched by the uploads' own variants (trimmed,
    framed, deskewed). Safe to run again.
    """
    with _services() as s:
        report = s.banks.reindex(_as(s, key), name)
    if as_json:
        _print_json(report.model_dump(mode="json"))
        return
    _err.print(
        f"bank [bold]{report.bank}[/]: {report.updated} of {report.entries} PDQ entries "
        f"given variants; {report.kept} kept the variants they were added with; "
        f"{report.hash_only} banked as hashes only and {report.media_missing} without "
        f"kept media (matched by the uploads' own variants only); "
        f"{report.unreadable} unreadable",
        highlight=False,
    )


@bank_app.command("delete")
def bank_delete(
    name: Annotated[str, typer.Argument(help="Bank name or bnk_… id.")],
    key: KeyOption,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a bank and all its entries (they stop matching at once)."""
    if not yes and not _confirmed(f"Delete bank {name} and all its entries?"):
        raise typer.Exit(EXIT_USAGE)
    with _services() as s:
        s.banks.delete(_as(s, key), name)
    _err.print(f"deleted bank {name}")


@bank_app.command("import")
def bank_import(
    name: Annotated[str, typer.Argument(help="Bank name or bnk_… id.")],
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV, JSON or JSONL."),
    ],
    key: KeyOption,
    file_format: Annotated[
        RowFormat | None,
        typer.Option("--format", help="Default: from the extension, else the content."),
    ] = None,
    source: Annotated[str | None, typer.Option(help="Recorded on every new entry.")] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Go on with the newest unfinished import of this same file into this bank "
            "(see 'jikimi bank imports'), from the row where it stopped.",
        ),
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar (default: if a tty)."),
    ] = None,
) -> None:
    """Import hashes (ThreatExchange signal form); bad rows are reported, not fatal.

    Each import is recorded (see 'jikimi bank imports'); one cut short (the process
    killed, Ctrl-C) is resumed with --resume and the same file.
    """
    fmt = file_format or _format_of(file)
    size = file.stat().st_size
    with _services() as s, file.open("rb") as stream:
        principal = _as(s, key)
        with Progress(
            TextColumn("[bold]importing"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            console=_err,
            disable=not (progress if progress is not None else _err.is_terminal),
        ) as bar:
            task = bar.add_task("import", total=size, rows=0)

            def on_start(record: BankImport) -> None:
                how = f"resuming after row {record.rows:,}" if resume else "started"
                bar.console.print(f"import {record.id} {how}", highlight=False)

            def on_progress(rows: int) -> None:
                bar.update(task, completed=min(stream.tell(), size), rows=rows)

            try:
                record = s.banks.import_file(
                    principal,
                    name,
                    stream,
                    fmt,
                    source=source,
                    resume=resume,
                    on_start=on_start,
                    on_progress=on_progress,
                )
            except KeyboardInterrupt:
                bar.stop()
                _err.print(
                    "interrupted: what was committed stays; go on with the same command "
                    "and --resume",
                    highlight=False,
                )
                raise typer.Exit(EXIT_INTERRUPTED) from None
            bar.update(task, completed=size, rows=record.rows)
    _print_report(record.report())
    raise typer.Exit(EXIT_PARTIAL if record.error_count else EXIT_OK)


@bank_app.command("imports")
def bank_imports(
    name: Annotated[str, typer.Argument(help="Bank name or bnk_… id.")],
    key: KeyOption,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Most imports shown.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List your imports into a bank, newest first: state, rows committed, counts."""
    with _services() as s:
        found = s.banks.list_imports(_as(s, key), name, limit)
    if as_json:
        _print_json([i.model_dump(mode="json", exclude={"tenant_id"}) for i in found])
        return
    table = _table("id", "state", "rows", "added", "dupl.", "rejected", "started", "file sha256")
    for i in found:
        table.add_row(
            i.id,
            i.state.value,
            f"{i.rows:,}",
            f"{i.added:,}",
            f"{i.duplicates:,}",
            f"{i.error_count:,}",
            f"{i.started_at:%Y-%m-%d %H:%M:%S}",
            i.file_sha256[:16] + "…",
        )
    Console(markup=False).print(table)


def _format_of(path: Path) -> RowFormat | None:
    return {".csv": RowFormat.CSV, ".json": RowFormat.JSON, ".jsonl": RowFormat.JSONL}.get(
        path.suffix.lower()
    )


def _print_report(report: ImportReport) -> None:
    _err.print(
        f"{report.rows:,} rows: {report.added:,} added, {report.duplicates:,} already there, "
        f"{report.error_count:,} rejected"
    )
    if not report.error_count:
        return
    by_code = Counter(e.code.value for e in report.errors)
    _err.print("rejected rows by reason: " + ", ".join(f"{c} {n}" for c, n in by_code.items()))
    for error in report.errors[:SHOWN_ROW_ERRORS]:
        _err.print(
            f"  line {error.line}: {error.code.value}: {escape(error.message)}", highlight=False
        )
    hidden = report.error_count - min(len(report.errors), SHOWN_ROW_ERRORS)
    if hidden > 0:
        _err.print(f"  … and {hidden:,} more")


@bank_app.command("export")
def bank_export(
    name: Annotated[str, typer.Argument(help="Bank name or bnk_… id.")],
    key: KeyOption,
    file_format: Annotated[RowFormat, typer.Option("--format")] = RowFormat.CSV,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; default: stdout.")
    ] = None,
) -> None:
    """Export the bank's active entries (ThreatExchange signal form)."""
    with _services() as s:
        chunks = s.banks.export(_as(s, key), name, file_format)
        if output is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return
        with output.open("w", encoding="utf-8", newline="") as out:
            for chunk in chunks:
                out.write(chunk)
    _err.print(f"wrote {output}")


@bank_app.command("share")
def bank_share(
    name: Annotated[str, typer.Argument(help="Bank name or bnk_… id.")],
    tenant: Annotated[str, typer.Argument(help="The tenant to share with.")],
    key: KeyOption,
    undo: Annotated[bool, typer.Option("--undo", help="Stop sharing instead.")] = False,
) -> None:
    """Share a bank (read and match only) with another tenant, or stop sharing."""
    with _services() as s:
        principal = _as(s, key)
        if undo:
            s.banks.unshare(principal, name, tenant)
        else:
            s.banks.share(principal, name, tenant)
    _err.print(f"bank {name} {'no longer' if undo else 'now'} shared with {tenant}")

"""``jikimi bank add|entries|disable|enable|withdraw``: the hashes inside a bank.

The same operations as ``/v1/banks/{name}/entries`` (see
:mod:`jikimi.api.routes.entries`), over the same :class:`~jikimi.services.BankService`
methods, for a regulator or support centre working from a terminal. The commands are
registered on :data:`jikimi.cli.admin.bank_app` (the ``jikimi bank`` group) and share
its helpers, so errors and exit codes are the other ``bank`` commands': 0 done,
2 nothing done (bad option, bad key or role, unknown bank or entry, invalid hash,
duplicate).

An entry's life::

    add ──> active <──disable/enable──> disabled
               │                           │
               └──────── withdraw ─────────┘──> withdrawn (final: never listed,
                                                matched or added again)
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from jikimi.cli.admin import (
    EXIT_USAGE,
    JsonOption,
    KeyOption,
    _as,
    _confirmed,
    _err,
    _fail,
    _print_json,
    _Services,
    _services,
    _table,
    bank_app,
)
from jikimi.config import Settings
from jikimi.domain import Entry, EntryCreate, EntryMeta, EntryStatus, Principal, SignalKind
from jikimi.errors import PayloadTooLarge
from jikimi.services.banks import DEFAULT_PAGE
from jikimi.services.banks import rows as importing
from jikimi.signals.vpdq import vpdq_file_text

SHOWN_VALUE_CHARS = 16
"""Characters of a hash shown in ``bank entries`` (``--json`` has them all)."""

BankArgument = Annotated[str, typer.Argument(help="Bank name or bnk_… id.")]
EntryArgument = Annotated[str, typer.Argument(help="The ent_… id (see jikimi bank entries).")]


class ListedStatus(StrEnum):
    """The statuses ``bank entries --status`` filters on (withdrawn entries are never listed)."""

    ACTIVE = "active"
    DISABLED = "disabled"


# --- add --------------------------------------------------------------------------


@bank_app.command("add")
def bank_add(
    name: BankArgument,
    key: KeyOption,
    file: Annotated[
        Path | None,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            show_default=False,
            help="An image (hashed with PDQ) or a video or animated GIF/WebP (vPDQ); "
            "with --vpdq a vPDQ hash file.",
        ),
    ] = None,
    pdq: Annotated[
        str | None, typer.Option(metavar="HEX", help="A PDQ hash (64 hex digits).")
    ] = None,
    md5: Annotated[
        str | None, typer.Option(metavar="HEX", help="An MD5 digest (32 hex digits).")
    ] = None,
    sha256: Annotated[
        str | None, typer.Option(metavar="HEX", help="A SHA-256 digest (64 hex digits).")
    ] = None,
    vpdq: Annotated[
        bool,
        typer.Option(
            "--vpdq",
            help="FILE is a vPDQ hash file (frame,quality,pdq_hex,timestamp lines, or "
            "ThreatExchange's JSON form), not media.",
        ),
    ] = False,
    note: Annotated[str | None, typer.Option(help="Why the entry is there.")] = None,
    source: Annotated[str | None, typer.Option(help="Where it came from.")] = None,
    metadata: Annotated[
        str | None, typer.Option(metavar="JSON", help="A JSON object kept with the entry.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Add one hash, or a media file hashed here; prints the new entry.

    Exactly one of --pdq, --md5, --sha256 or FILE. A hash the bank has, or had and
    withdrew, is refused.
    """
    options = ((SignalKind.PDQ, pdq), (SignalKind.MD5, md5), (SignalKind.SHA256, sha256))
    hashes = [(signal, value) for signal, value in options if value is not None]
    if len(hashes) + (file is not None) != 1:
        _fail("give exactly one of --pdq, --md5, --sha256 or FILE")
    if vpdq and file is None:
        _fail("--vpdq says FILE is a vPDQ hash file; give the FILE")
    meta = EntryMeta(source=source, note=note, metadata=_metadata(metadata))
    with _services() as s:
        principal = _as(s, key)
        if file is not None:
            entry = _add_file(s, principal, name, file, meta, vpdq=vpdq)
        else:
            [(signal, value)] = hashes
            create = EntryCreate(signal=signal, value=value, **meta.model_dump())
            entry = s.banks.add_entry(principal, name, create)
    _err.print(f"added {entry.signal.value} entry to bank {entry.bank}", highlight=False)
    if as_json:
        _print_json(entry.model_dump(mode="json"))
        return
    table = _table("id", "signal", "value")
    table.add_row(entry.id, entry.signal.value, entry.value)
    Console(markup=False).print(table)


def _add_file(
    s: _Services, principal: Principal, bank: str, file: Path, meta: EntryMeta, *, vpdq: bool
) -> Entry:
    """Add a media file (hashed by the service) or, with ``vpdq``, a vPDQ hash file."""
    data = _read_upload(file, s.settings)
    if vpdq:
        return s.banks.add_vpdq_entry(principal, bank, vpdq_file_text(data), meta)
    return s.banks.add_media_entry(principal, bank, data, meta)


def _read_upload(file: Path, settings: Settings) -> bytes:
    """The file's bytes, refused before reading if it is larger than the API would take
    (the larger of the image and video limits, as ``POST …/entries`` does)."""
    limit = max(settings.max_bytes, settings.video_max_bytes)
    size = file.stat().st_size
    if size > limit:
        raise PayloadTooLarge(
            f"{file} is {size:,} bytes; a file added to a bank may be at most {limit:,} "
            "(JIKIMI_MAX_BYTES / JIKIMI_VIDEO_MAX_BYTES)"
        )
    return file.read_bytes()


def _metadata(text: str | None) -> dict[str, Any]:
    """``--metadata`` as a dict, checked as every door checks metadata."""
    metadata = importing.check_metadata(text)
    if isinstance(metadata, str):
        _fail(f"--{metadata}")
    return metadata


# --- list -------------------------------------------------------------------------


@bank_app.command("entries")
def bank_entries(
    name: BankArgument,
    key: KeyOption,
    status: Annotated[
        ListedStatus | None, typer.Option(help="Only entries with this status.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most entries to show.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List a bank's entries, oldest first (withdrawn entries are never listed)."""
    wanted = EntryStatus(status.value) if status is not None else None
    with _services() as s:
        principal = _as(s, key)
        entries, more = _first_entries(s, principal, name, wanted, limit)
        hidden = None
        if more and wanted is None:  # the bank counts its active and disabled entries
            hidden = s.banks.get(principal, name).entry_count - len(entries)
    if as_json:
        _print_json([e.model_dump(mode="json") for e in entries])
    elif entries:
        Console(markup=False).print(_entry_table(entries))
    _err.print(_count_line(len(entries), more, hidden))


def _first_entries(
    s: _Services, principal: Principal, bank: str, status: EntryStatus | None, limit: int
) -> tuple[list[Entry], bool]:
    """Up to ``limit`` entries, following ``next_cursor`` page by page (the API's
    default page: each read is a short transaction); and whether there are more."""
    entries: list[Entry] = []
    cursor: str | None = None
    while True:
        size = min(limit - len(entries), DEFAULT_PAGE)
        page = s.banks.list_entries(principal, bank, cursor, size, status=status)
        entries.extend(page.entries)
        cursor = page.next_cursor
        if cursor is None or len(entries) >= limit:
            return entries, cursor is not None


def _entry_table(entries: Sequence[Entry]) -> Table:
    table = _table("id", "signal", "value", "status", "source", "created")
    for e in entries:
        table.add_row(
            e.id,
            e.signal.value,
            _shorten(e.value),
            e.status.value,
            e.source or "-",
            f"{e.created_at:%Y-%m-%d %H:%M}",
        )
    return table


def _shorten(value: str) -> str:
    return value if len(value) <= SHOWN_VALUE_CHARS else value[:SHOWN_VALUE_CHARS] + "…"


def _count_line(shown: int, more: bool, hidden: int | None) -> str:
    """``120 entries shown, 30 more (raise --limit to see them)``.

    ``hidden`` is how many are not shown, when known (without ``--status``); with a
    status filter all we know is that there are more.
    """
    line = f"{shown:,} {'entry' if shown == 1 else 'entries'} shown"
    if not more:
        return line
    if hidden is not None and hidden > 0:
        return f"{line}, {hidden:,} more (raise --limit to see them)"
    return f"{line}; there are more (raise --limit to see them)"


# --- status -----------------------------------------------------------------------


@bank_app.command("disable")
def bank_disable(name: BankArgument, entry_id: EntryArgument, key: KeyOption) -> None:
    """Stop an entry matching, for now (enable brings it back)."""
    _set_status(name, entry_id, key, EntryStatus.DISABLED)


@bank_app.command("enable")
def bank_enable(name: BankArgument, entry_id: EntryArgument, key: KeyOption) -> None:
    """Let a disabled entry match again."""
    _set_status(name, entry_id, key, EntryStatus.ACTIVE)


@bank_app.command("withdraw")
def bank_withdraw(
    name: BankArgument,
    entry_id: EntryArgument,
    key: KeyOption,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Withdraw an entry for good: it stops matching, is never listed, cannot be re-added."""
    question = f"Withdraw entry {entry_id} from bank {name}? It can never be added again"
    if not yes and not _confirmed(question):
        raise typer.Exit(EXIT_USAGE)
    _set_status(name, entry_id, key, EntryStatus.WITHDRAWN)


_STATUS_NEWS = {
    EntryStatus.ACTIVE: "is active: it matches",
    EntryStatus.DISABLED: "is disabled: it does not match until enabled again",
    EntryStatus.WITHDRAWN: "is withdrawn: it never matches again and cannot be re-added",
}


def _set_status(bank: str, entry_id: str, key: str, status: EntryStatus) -> None:
    with _services() as s:
        entry = s.banks.set_status(_as(s, key), bank, entry_id, status)
    news = _STATUS_NEWS[entry.status]
    _err.print(f"entry {entry.id} of bank {entry.bank} {news}", highlight=False)

"""``jikimi host|case|notice|evidence|audit|report|worker``: the takedown loop at a terminal.

Like :mod:`jikimi.cli.admin`, these call the casework services in this process on
the configured database, as an API key (``--key`` or ``JIKIMI_API_KEY``), so the
roles are the API's: a caseworker opens cases and drafts notices, a reviewer or
admin approves them. ``jikimi worker`` runs the deliverer and the re-checks (what
``jikimi serve`` also runs in the background) for deployments that keep them apart.

Exit codes: 0 = done; 1 = a check failed (``evidence verify``, ``audit verify``);
2 = nothing done: bad option, bad key, unknown thing, invalid value, conflict.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from jikimi.audit.chain import Checkpoint
from jikimi.cases.lifecycle import CaseStatus
from jikimi.cases.types import Contact, ContactKind, Regulator
from jikimi.cli.admin import EXIT_USAGE, JsonOption, KeyOption, _err, _fail, _print_json, _table
from jikimi.config import Settings, load_settings
from jikimi.domain import Principal, SignalKind
from jikimi.errors import JikimiError
from jikimi.evidence import verify_bundle
from jikimi.services import BankService, KeyService
from jikimi.services.cases import HostSpec
from jikimi.services.casework import CaptureScanner, Casework, CaseworkRunner
from jikimi.store import Store, migrate

EXIT_FAILED = 1

host_app = typer.Typer(
    help="Hosts: platforms and how they take removal requests.", no_args_is_help=True
)
case_app = typer.Typer(help="Cases and their items.", no_args_is_help=True)
notice_app = typer.Typer(help="Removal notices: draft, approve, send.", no_args_is_help=True)
evidence_app = typer.Typer(help="Signed evidence bundles.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except Exception as exc:  # pydantic ValidationError: a bad JIKIMI_* variable
        _fail(f"invalid settings: {exc}")


@contextmanager
def _work(key: str | None, *, scanning: bool = False) -> Iterator[tuple[Casework, Principal]]:
    """The casework services (and the caller, when a key is given); user errors exit 2."""
    settings = _settings()
    try:
        migrate(settings)
        store = Store.from_settings(settings)
    except JikimiError as exc:
        _fail(exc.message)
    try:
        scanner = None
        if scanning:
            from jikimi.services.matching import MatchService
            from jikimi.services.scans import LazyScanner, ScanService

            matching = MatchService(store, settings)
            matching.load()  # the tenant's banks, for the capture's Verdict
            scans = ScanService(store, LazyScanner(settings), matching.matcher_for)
            scanner = CaptureScanner(scans)
        work = Casework.from_settings(settings, store, scanner=scanner)
        if scanning:
            from jikimi.actions import ActionRecorder

            scans.on_stored = work.reuploads.on_stored
            scans.on_stored_for = ActionRecorder().on_stored
        principal = KeyService(store).authenticate(key) if key else None
        yield work, principal  # type: ignore[misc]
    except JikimiError as exc:
        _fail(exc.message)
    finally:
        store.close()


# --- hosts -------------------------------------------------------------------------------


def _contact(text: str) -> Contact:
    kind, sep, value = text.partition(":")
    if not sep or kind not in {k.value for k in ContactKind}:
        _fail(f"a contact is email:ADDRESS, api:URL or form:URL, not {text!r}")
    return Contact(kind=ContactKind(kind), value=value)


@host_app.command("add")
def host_add(
    slug: Annotated[str, typer.Argument(help="A short name: telegram, x, forum-a …")],
    key: KeyOption,
    name: Annotated[str, typer.Option("--name", help="The host's display name.")],
    language: Annotated[str, typer.Option("--language", help="Language of its notices.")] = "en",
    contact: Annotated[
        list[str] | None,
        typer.Option("--contact", help="email:ADDRESS, api:URL or form:URL (repeatable)."),
    ] = None,
    basis: Annotated[
        str,
        typer.Option("--basis", help="Legal bases, comma-separated: kcsc,take_it_down,dsa_art16"),
    ] = "",
    secret: Annotated[
        str | None, typer.Option("--secret", help="Shared secret of an API contact.")
    ] = None,
    marker: Annotated[
        list[str] | None,
        typer.Option("--marker", help="Text of the host's removal page (repeatable)."),
    ] = None,
    jurisdiction: Annotated[str | None, typer.Option("--jurisdiction")] = None,
    regulator: Annotated[
        str | None,
        typer.Option(
            "--regulator",
            help="Copied on escalations: 'NAME <EMAIL>' or a name, e.g. 'KCSC <x@kcsc.example>'.",
        ),
    ] = None,
) -> None:
    """Add a host."""
    with _work(key) as (work, me):
        host = work.hosts.add(
            me,
            HostSpec(
                slug=slug,
                name=name,
                language=language,
                contacts=tuple(_contact(c) for c in contact or ()),
                bases=tuple(b.strip() for b in basis.split(",") if b.strip()),
                jurisdiction=jurisdiction,
                api_secret=secret,
                removal_markers=tuple(marker or ()),
                regulator=None if regulator is None else _regulator(regulator),
            ),
        )
    typer.echo(host.slug)


def _regulator(text: str) -> Regulator:
    """``'KCSC <report@kcsc.example>'`` (or a name alone) as a :class:`Regulator`."""
    name, email = parseaddr(text)
    if email and "@" in email:
        return Regulator(name=name.strip() or email, email=email)
    return Regulator(name=text.strip())


@host_app.command("list")
def host_list(key: KeyOption, as_json: JsonOption = False) -> None:
    """The tenant's hosts."""
    with _work(key) as (work, me):
        hosts = work.hosts.list(me)
    if as_json:
        _print_json([h.model_dump(mode="json", exclude={"tenant_id"}) for h in hosts])
        return
    table = _table("slug", "name", "language", "contacts", "bases")
    for h in hosts:
        contacts = ", ".join(f"{c.kind.value}:{c.value}" for c in h.contacts) or "(none)"
        table.add_row(h.slug, h.name, h.language, contacts, ",".join(h.bases))
    from rich.console import Console

    Console().print(table)


# --- cases -------------------------------------------------------------------------------


@case_app.command("open")
def case_open(
    key: KeyOption,
    title: Annotated[str, typer.Option("--title")],
    victim_contact: Annotated[
        str | None, typer.Option("--victim-contact", help="Kept encrypted; never shown by the API.")
    ] = None,
    language: Annotated[str, typer.Option("--language")] = "ko",
    takedown_bank: Annotated[
        str | None, typer.Option("--takedown-bank", help="Bank (name or id) removed items go to.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Open a case; prints its id, and the number + PIN for the victim (shown this once)."""
    with _work(key) as (work, me):
        bank_id = None
        if takedown_bank:
            bank_id = BankService(work.store, settings=work.settings).get(me, takedown_bank).id
        opened = work.cases.open(
            me,
            title=title,
            language=language,
            victim_contact=victim_contact,
            takedown_bank_id=bank_id,
        )
    if as_json:
        _print_json({"id": opened.case.id, "number": opened.case.number, "pin": opened.pin})
        return
    typer.echo(opened.case.id)
    _err.print(
        f"case number {opened.case.number}, PIN {opened.pin}: give both to the victim; "
        "the PIN is not shown again",
        highlight=False,
        soft_wrap=True,
    )


@case_app.command("show")
def case_show(case_id: str, key: KeyOption, as_json: JsonOption = False) -> None:
    """A case: its items (status, clocks) and notices."""
    with _work(key) as (work, me):
        case = work.cases.get(me, case_id)
        items = work.cases.items(me, case_id)
        notices = work.notices.list(me, case_id)
    if as_json:
        _print_json(
            {
                "case": case.model_dump(mode="json", exclude={"tenant_id"}),
                "items": [
                    {
                        **i.model_dump(mode="json", exclude={"tenant_id", "capture"}),
                        "overdue": i.overdue,
                    }
                    for i in items
                ],
                "notices": [
                    n.model_dump(mode="json", exclude={"tenant_id", "body"}) for n in notices
                ],
            }
        )
        return
    from rich.console import Console

    console = Console()
    console.print(f"[bold]{case.id}[/] {case.number} {case.title!r} {case.status.value}")
    table = _table("item", "status", "url", "notified", "deadline", "removed")
    for i in items:
        status = i.status.value + (" (overdue)" if i.overdue else "")
        if i.escalated_at is not None and i.removed_at is None:
            status += f" escalated {_when(i.escalated_at)}"
        table.add_row(
            i.id,
            status,
            i.url or "(hash)",
            _when(i.notified_at),
            _when(i.deadline_at),
            _when(i.removed_at),
        )
    console.print(table)
    notes = _table("notice", "state", "language", "items", "sent", "drafted by")
    for n in notices:
        notes.add_row(
            n.id, n.state.value, n.language, str(len(n.item_ids)), _when(n.sent_at), n.drafted_by
        )
    console.print(notes)


def _when(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M")


@case_app.command("add-item")
def case_add_item(
    case_id: str,
    key: KeyOption,
    url: Annotated[
        str | None, typer.Argument(help="Captured now (unless hashes are given).")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="The host's slug.")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="The posting account or channel.")
    ] = None,
    pdq: Annotated[str | None, typer.Option("--pdq")] = None,
    md5: Annotated[str | None, typer.Option("--md5")] = None,
    sha256: Annotated[str | None, typer.Option("--sha256")] = None,
) -> None:
    """Add an item: a URL (captured, sealed, hashed, scanned) or hashes a victim made."""
    hashes = {
        k: v
        for k, v in ((SignalKind.PDQ, pdq), (SignalKind.MD5, md5), (SignalKind.SHA256, sha256))
        if v
    }
    if not hashes and not url:
        _fail("give a URL, or at least one of --pdq, --md5, --sha256")
    with _work(key, scanning=not hashes) as (work, me):
        if hashes:
            item = work.cases.add_hashes(me, case_id, hashes, host=host, source=source, url=url)
        else:
            assert url is not None
            item = work.cases.add_url(me, case_id, url, host=host, source=source)
    typer.echo(item.id)
    if item.reason:
        _err.print(f"{item.status.value}: {item.reason}", highlight=False, soft_wrap=True)


@case_app.command("recapture")
def case_recapture(item_id: str, key: KeyOption) -> None:
    """Try an unreachable item's URL again now (the worker also retries on a schedule)."""
    with _work(key, scanning=True) as (work, me):
        item = work.cases.recapture(me, item_id)
    typer.echo(f"{item.id} {item.status.value}" + (f": {item.reason}" if item.reason else ""))


@case_app.command("close")
def case_close(case_id: str, key: KeyOption) -> None:
    """Close a case (re-open with `case reopen`)."""
    with _work(key) as (work, me):
        work.cases.set_status(me, case_id, CaseStatus.CLOSED)


@case_app.command("reopen")
def case_reopen(case_id: str, key: KeyOption) -> None:
    """Re-open a closed case."""
    with _work(key) as (work, me):
        work.cases.set_status(me, case_id, CaseStatus.OPEN)


# --- notices -------------------------------------------------------------------------------


@notice_app.command("draft")
def notice_draft(
    case_id: str,
    key: KeyOption,
    host: Annotated[str, typer.Option("--host")],
    basis: Annotated[str | None, typer.Option("--basis", help="Override the host's bases.")] = None,
) -> None:
    """Draft a notice to one host listing the case's items there; prints its id, text on stderr."""
    bases = [b.strip() for b in basis.split(",")] if basis else None
    with _work(key) as (work, me):
        notice = work.notices.draft(me, case_id, host, bases)
    typer.echo(notice.id)
    _err.print(notice.subject + "\n\n" + notice.body, highlight=False, markup=False)


@notice_app.command("show")
def notice_show(notice_id: str, key: KeyOption, as_json: JsonOption = False) -> None:
    """A notice: its state and text."""
    with _work(key) as (work, me):
        notice = work.notices.get(me, notice_id)
    if as_json:
        _print_json(notice.model_dump(mode="json", exclude={"tenant_id"}))
        return
    typer.echo(f"{notice.id} {notice.state.value} ({notice.language})\n{notice.subject}\n")
    typer.echo(notice.body)


@notice_app.command("approve")
def notice_approve(notice_id: str, key: KeyOption) -> None:
    """Approve a draft (another key than the one that drafted it)."""
    with _work(key) as (work, me):
        notice = work.notices.approve(me, notice_id)
    typer.echo(notice.state.value)


@notice_app.command("send")
def notice_send(notice_id: str, key: KeyOption) -> None:
    """Queue an approved notice; the worker (or `jikimi serve`) delivers it."""
    with _work(key) as (work, me):
        notice = work.notices.send(me, notice_id)
    typer.echo(notice.state.value)


@notice_app.command("mark-sent")
def notice_mark_sent(
    notice_id: str, key: KeyOption, note: Annotated[str | None, typer.Option("--note")] = None
) -> None:
    """Record that the notice was submitted by hand (hosts with a web form only)."""
    with _work(key) as (work, me):
        notice = work.notices.mark_sent(me, notice_id, note)
    typer.echo(notice.state.value)


@notice_app.command("discard")
def notice_discard(notice_id: str, key: KeyOption) -> None:
    """Discard a notice that was not sent."""
    with _work(key) as (work, me):
        work.notices.discard(me, notice_id)


# --- evidence, audit, reports ----------------------------------------------------------------


@evidence_app.command("export")
def evidence_export(item_id: str, key: KeyOption) -> None:
    """Write an item's signed evidence bundle (zip) to stdout: `… > bundle.zip`."""
    if sys.stdout.isatty():
        _fail("the bundle is binary: redirect it to a file (… > bundle.zip)")
    with _work(key) as (work, me):
        data = work.export_evidence(me, item_id)
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@evidence_app.command("verify")
def evidence_verify(
    bundle: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    trusted_key: Annotated[
        str | None, typer.Option("--key-id", help="The instance key id (or public key) to expect.")
    ] = None,
) -> None:
    """Check a bundle offline: the signature, and every file against the manifest."""
    report = verify_bundle(bundle.read_bytes(), trusted_key)
    if report.ok:
        typer.echo(f"ok: signed by {report.key_id}; item {report.manifest.get('item')}")
        return
    for problem in report.problems:
        typer.echo(f"ALTERED: {problem}")
    raise typer.Exit(EXIT_FAILED)


def _checkpoint(text: str | None) -> Checkpoint | None:
    if text is None:
        return None
    seq, sep, digest = text.partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64:
        _fail("a checkpoint is SEQ:DIGEST, as printed by an earlier `jikimi audit verify`")
    return Checkpoint(int(seq), digest)


@audit_app.command("verify")
def audit_verify(
    key: KeyOption,
    checkpoint: Annotated[
        str | None, typer.Option("--checkpoint", help="SEQ:DIGEST of a head saved earlier.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the whole audit chain; names the first bad row. Prints the head to keep."""
    point = _checkpoint(checkpoint)
    with _work(key) as (work, me):
        report = work.reports.verify_audit(me, point)
    head = f"{report.head.seq}:{report.head.digest}" if report.head else None
    if as_json:
        _print_json(
            {
                "ok": report.ok,
                "checked": report.checked,
                "head": head,
                "first_bad_seq": report.first_bad_seq,
                "reason": report.reason,
            }
        )
    elif report.ok:
        typer.echo(f"ok: {report.checked} rows; head {head}")
    else:
        typer.echo(f"BROKEN at row {report.first_bad_seq}: {report.reason}")
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


def _day(value: str, option: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        _fail(f"{option} is a date like 2026-11-01, not {value!r}")
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


report_app = typer.Typer(
    help="Per host: items notified in a period and what became of them; `report sor`: "
    "DSA statements of reasons.",
    invoke_without_command=True,
)
FromOption = Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")]
ToOption = Annotated[str | None, typer.Option("--to", help="Last day, included (YYYY-MM-DD).")]


def _period(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    if start is None or end is None:
        _fail("give the period: --from YYYY-MM-DD --to YYYY-MM-DD")
    return _day(start, "--from"), _day(end, "--to") + timedelta(days=1)


ReportKeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="JIKIMI_API_KEY",
        help="Your API key (jk_…); default: $JIKIMI_API_KEY.",
        show_default=False,
    ),
]


@report_app.callback()
def report(
    ctx: typer.Context,
    key: ReportKeyOption = None,
    start: FromOption = None,
    end: ToOption = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
) -> None:
    """Per host: items notified in the period, removed, still up, reappeared, time to removal."""
    if ctx.invoked_subcommand is not None:
        return  # `report sor|overdue` take their own options
    if not key:
        _fail("give an API key: --key or $JIKIMI_API_KEY")
    since, until = _period(start, end)
    with _work(key) as (work, me):
        found = work.reports.report(me, since, until)
    if as_json:
        _print_json(found.as_json())
        return
    if as_csv:
        sys.stdout.write(found.as_csv())
        return
    table = _table(
        "host", "requested", "removed", "still up", "reappeared", "overdue", "median h", "slowest h"
    )
    for row in (*found.hosts, found.total):
        d = asdict(row)
        table.add_row(
            d["host"],
            *(str(d[k]) for k in ("requested", "removed", "still_up", "reappeared", "overdue")),
            "" if d["median_hours_to_removal"] is None else str(d["median_hours_to_removal"]),
            "" if d["slowest_hours_to_removal"] is None else str(d["slowest_hours_to_removal"]),
        )
    from rich.console import Console

    Console().print(table)


@report_app.command("overdue")
def report_overdue(key: KeyOption, as_json: JsonOption = False) -> None:
    """Items past their deadline and not confirmed gone, oldest deadline first."""
    with _work(key) as (work, me):
        late = work.reports.overdue(me)
    if as_json:
        _print_json(
            {"items": [i.model_dump(mode="json", exclude={"tenant_id", "capture"}) for i in late]}
        )
        return
    table = _table("item", "case", "status", "url", "deadline", "escalated")
    for i in late:
        table.add_row(
            i.id, i.case_id, i.status.value, i.url or "(hash)", _when(i.deadline_at),
            _when(i.escalated_at),
        )  # fmt: skip
    from rich.console import Console

    Console().print(table)


@report_app.command("sor")
def report_sor(
    key: KeyOption,
    start: FromOption = None,
    end: ToOption = None,
    items: Annotated[
        bool,
        typer.Option("--items", help="Case items confirmed removed, instead of scans."),
    ] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (default: JSON).")] = False,
    territory: Annotated[
        list[str] | None,
        typer.Option("--territory", help="Country code where the decision applies (repeat)."),
    ] = None,
    language: Annotated[
        str | None, typer.Option("--language", help="ISO 639-1 language of the content.")
    ] = None,
) -> None:
    """DSA statements of reasons (Transparency Database fields) for the period.

    Scans that removed, held or labelled content, or (--items) case items confirmed
    removed after a notice; JSON ({"statements": [...]}) or CSV on stdout.
    """
    from jikimi.services.sor import EEA, SorOptions, StatementsOfReasons
    from jikimi.services.sor import as_csv as sor_csv
    from jikimi.services.sor import as_json as sor_json

    since, until = _period(start, end)
    scope = tuple(sorted({t.strip().upper() for t in territory})) if territory else EEA
    options = SorOptions(territorial_scope=scope, content_language=language)
    with _work(key) as (work, me):
        sor = StatementsOfReasons(work.store)
        found = (sor.for_items if items else sor.for_scans)(me, since, until, options)
    sys.stdout.write(sor_csv(found) if as_csv else sor_json(found) + "\n")


# --- the worker ------------------------------------------------------------------------------


def worker(
    poll: Annotated[
        float, typer.Option("--poll", help="Seconds between looks at the outbox.")
    ] = 2.0,
    once: Annotated[bool, typer.Option("--once", help="Do what is due now, then exit.")] = False,
) -> None:
    """Deliver queued notices and run due re-checks until stopped (SIGTERM/SIGINT).

    Safe to run several times over (leases), and to kill at any moment: a notice
    being delivered when the process dies is delivered by the next worker, once.
    """
    settings = _settings()
    try:
        migrate(settings)
        store = Store.from_settings(settings)
    except JikimiError as exc:
        _fail(exc.message)
    try:
        work = Casework.from_settings(settings, store)
        banks = BankService(store, settings=settings)
        runner = CaseworkRunner(work, banks.add_entries, poll_s=poll)
        if once:
            typer.echo(f"{runner.run_due()} done")
            return
        stop = {"now": False}

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop["now"] = True
            runner.close()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        _err.print("worker: delivering notices and running re-checks", highlight=False)
        while not stop["now"]:
            try:
                runner.run_due()
            except JikimiError as exc:
                _err.print(f"worker: {exc.message}", highlight=False)
            time.sleep(poll)
    finally:
        store.close()


__all__ = [
    "EXIT_USAGE",
    "audit_app",
    "case_app",
    "evidence_app",
    "host_app",
    "notice_app",
    "report",
    "report_app",
    "worker",
]

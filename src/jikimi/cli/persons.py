"""``jikimi person enrol|show|withdraw``: face protection from a terminal.

The same operations as ``/v1/persons`` over the same
:class:`~jikimi.services.persons.PersonService`, for a caseworker (or admin)
key. Exit codes as the other admin commands: 0 done, 2 nothing done (bad key or
role, a refused photo, no consent, unknown or withdrawn person). A refused
photo's message names it and says why; nothing is stored then.

Nothing printed here ever holds a face template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from jikimi.cli.admin import (
    EXIT_USAGE,
    JsonOption,
    KeyOption,
    _as,
    _confirmed,
    _err,
    _fail,
    _print_json,
    _services,
    _table,
)
from jikimi.domain import MAX_ENROL_PHOTOS, EnrolPhoto, Person

person_app = typer.Typer(
    help="Persons enrolled for face protection (caseworker key).", no_args_is_help=True
)


@person_app.command("enrol")
def person_enrol(
    photos: Annotated[
        list[Path],
        typer.Argument(help=f"1 to {MAX_ENROL_PHOTOS} photos, each showing her face alone."),
    ],
    key: KeyOption,
    consent: Annotated[
        str,
        typer.Option(
            help="Her consent as recorded, e.g. 'signed form 2026-12-01, caseworker kim'."
        ),
    ],
    case: Annotated[str | None, typer.Option(help="The case id, if any.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Enrol a person: her face is looked for in every scan of your tenant from now on."""
    loaded = []
    for path in photos:
        try:
            loaded.append(EnrolPhoto(name=path.name, data=path.read_bytes()))
        except OSError as exc:
            _fail(f"{path}: {exc.strerror}")
    with _services() as s:
        person = s.persons.enrol(_as(s, key), loaded, consent, case)
    _show(person, as_json, f"enrolled {person.id} from {person.templates} photos")


@person_app.command("show")
def person_show(
    person_id: Annotated[str, typer.Argument(help="The person's id (per_…).")],
    key: KeyOption,
    as_json: JsonOption = False,
) -> None:
    """A person's record: consent, status, templates held, events."""
    with _services() as s:
        person = s.persons.get(_as(s, key), person_id)
    _show(person, as_json)


@person_app.command("withdraw")
def person_withdraw(
    person_id: Annotated[str, typer.Argument(help="The person's id (per_…).")],
    key: KeyOption,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Record her withdrawal: her face templates are destroyed; she is never matched again."""
    question = f"Withdraw {person_id}? Her face templates are destroyed for good"
    if not yes and not _confirmed(question):
        raise typer.Exit(EXIT_USAGE)
    with _services() as s:
        person = s.persons.withdraw(_as(s, key), person_id)
    _show(person, as_json, f"{person.id} withdrew: her face templates are destroyed")


def _show(person: Person, as_json: bool, news: str | None = None) -> None:
    if news:
        _err.print(news, highlight=False)
    if as_json:
        _print_json(person.model_dump(mode="json", exclude={"tenant_id"}))
        return
    table = _table("field", "value")
    table.add_row("id", person.id)
    table.add_row("status", person.status.value)
    table.add_row("case", person.case or "-")
    table.add_row("templates", str(person.templates))
    table.add_row("consent", person.consent.text)
    table.add_row(
        "recorded by",
        f"{person.consent.recorded_by} at {person.consent.recorded_at:%Y-%m-%d %H:%M}",
    )
    if person.withdrawn_at is not None:
        table.add_row("withdrawn", f"{person.withdrawn_at:%Y-%m-%d %H:%M} by {person.withdrawn_by}")
    for e in person.events:
        table.add_row(f"event: {e.kind.value}", f"{e.at:%Y-%m-%d %H:%M:%S} by {e.actor}")
    Console(markup=False).print(table)

"""``jikimi webhook set|show|remove``: where a tenant's scan consequences are POSTed.

The secret is printed once, when set; deliveries are signed with it (HMAC-SHA256,
see :mod:`jikimi.actions.webhooks`). Admin keys only.
"""

from __future__ import annotations

from typing import Annotated

import typer

from jikimi.actions import EVENTS
from jikimi.cli.admin import JsonOption, KeyOption, _print_json
from jikimi.cli.cases import _work

webhook_app = typer.Typer(
    help="The tenant's signed webhook (scan.held, bank.matched).", no_args_is_help=True
)


@webhook_app.command("set")
def webhook_set(
    url: Annotated[str, typer.Argument(help="https://receiver.example/jikimi")],
    key: KeyOption,
    event: Annotated[
        list[str] | None, typer.Option(help=f"An event (repeatable): {', '.join(EVENTS)}.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Set (or replace) the webhook; prints its signing secret once."""
    with _work(key) as (work, principal):
        done = work.webhooks.set(principal, url, tuple(event or EVENTS))
    if as_json:
        _print_json({"url": done.info.url, "events": done.info.events, "secret": done.secret})
        return
    typer.echo(f"webhook {done.info.url} ({', '.join(done.info.events)})")
    typer.echo(f"secret (shown once): {done.secret}")


@webhook_app.command("show")
def webhook_show(key: KeyOption, as_json: JsonOption = False) -> None:
    """The webhook's URL and events (never the secret)."""
    with _work(key) as (work, principal):
        info = work.webhooks.get(principal)
    if as_json:
        _print_json({"url": info.url, "events": info.events, "enabled": info.enabled})
        return
    typer.echo(f"{info.url} ({', '.join(info.events)})")


@webhook_app.command("remove")
def webhook_remove(key: KeyOption) -> None:
    """Stop delivering (queued deliveries are dropped)."""
    with _work(key) as (work, principal):
        work.webhooks.remove(principal)
    typer.echo("webhook removed")


__all__ = ["webhook_app"]

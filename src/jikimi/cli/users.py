"""``jikimi user add|list|reset-password|reset-totp``: people's accounts (operator).

The first admin of a tenant has nobody to add her in the pages, so the operator
makes her account here; she adds the others on the People page. The password is
read from standard input when it is not a terminal (``echo … | jikimi user add``),
otherwise prompted twice and never echoed, never taken as an option (it would
sit in the shell's history).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from jikimi.config import load_settings
from jikimi.domain import Role
from jikimi.errors import JikimiError
from jikimi.evidence import Sealer, load_or_create_secret
from jikimi.services import TenantService
from jikimi.services.accounts import AccountService
from jikimi.store import Store, migrate

EXIT_USAGE = 2
user_app = typer.Typer(help="People's accounts for the web pages.", no_args_is_help=True)
_err = Console(stderr=True)


@contextmanager
def _accounts() -> Iterator[tuple[AccountService, TenantService, Store]]:
    """The services on the migrated database, closed afterwards; a refusal
    (:class:`JikimiError`) is printed and exits with 2."""
    settings = load_settings()
    migrate(settings)
    store = Store.from_settings(settings)
    key = settings.evidence_key_path or settings.data_dir / "keys" / "evidence.key"
    try:
        yield AccountService(store, Sealer(load_or_create_secret(key))), TenantService(store), store
    except JikimiError as exc:
        _err.print(f"[red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from exc
    finally:
        store.close()


def _password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_app.command("add")
def user_add(
    tenant: Annotated[str, typer.Option(help="The tenant's name.")],
    email: Annotated[str, typer.Option(help="Her e-mail address (she signs in with it).")],
    role: Annotated[Role, typer.Option(help="What she may do.")] = Role.ADMIN,
) -> None:
    """Create an account; the password comes from stdin or a prompt (12+ characters)."""
    with _accounts() as (accounts, tenants, _store):
        found = tenants.get(tenant)
        user = accounts.create(found.id, email, role, _password())
    _err.print(f"created {user.role.value} {escape(user.email)} ({user.id}) in {tenant}")


@user_app.command("list")
def user_list(tenant: Annotated[str, typer.Option(help="The tenant's name.")]) -> None:
    """List a tenant's accounts (no secrets)."""
    with _accounts() as (_accounts_service, tenants, store):
        found = tenants.get(tenant)
        from jikimi.store import users as repo

        with store.session() as s:
            users = repo.list_users(s, found.id)
    for u in users:
        totp = "totp" if u.has_totp else "no-totp"
        state = "disabled" if u.disabled else "active"
        sys.stdout.write(f"{u.id}\t{u.email}\t{u.role.value}\t{totp}\t{state}\n")


@user_app.command("reset-password")
def user_reset_password(
    email: Annotated[str, typer.Option(help="Her e-mail address.")],
    base_url: Annotated[
        str, typer.Option(help="Where people open the pages (the link starts with it).")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Print a one-time link (24 h) that lets her set a new password; it ends her sessions.

    The password is never set here: she chooses it herself on the link's page, so
    the operator never knows it. An earlier unused link of hers stops working.
    """
    with _accounts() as (accounts, _tenants, _store):
        issued = accounts.issue_reset_by_email(email, base_url)
    _err.print(
        f"reset link for {escape(issued.user.email)}, good once until "
        f"{issued.expires_at:%Y-%m-%d %H:%M} UTC:"
    )
    sys.stdout.write(f"{issued.link}\n")


@user_app.command("reset-totp")
def user_reset_totp(email: Annotated[str, typer.Option(help="Her e-mail address.")]) -> None:
    """Clear her two-step sign-in (TOTP secret and recovery codes); her sessions end.

    For a person who lost both her phone and her recovery codes: at her next
    sign-in she sets up a new authenticator if her tenant requires one.
    """
    with _accounts() as (accounts, _tenants, _store):
        user = accounts.reset_totp_by_email(email)
    _err.print(f"two-step sign-in cleared for {escape(user.email)}")

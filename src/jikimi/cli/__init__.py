"""The ``jikimi`` command line: a thin door over the same services as the API.

Exit codes: 0 = everything scanned, 1 = some items failed (the rest were still
scanned), 2 = usage error (bad option, missing path, invalid settings or rules).
"""

from __future__ import annotations

import typer

from jikimi.cli import entries  # noqa: F401 - registers bank add|entries|disable|enable|withdraw
from jikimi.cli.admin import bank_app, key_app, tenant_app
from jikimi.cli.blobs import blobs_app
from jikimi.cli.cases import (
    audit_app,
    case_app,
    evidence_app,
    host_app,
    notice_app,
    report_app,
    worker,
)
from jikimi.cli.persons import person_app
from jikimi.cli.scan import scan
from jikimi.cli.serve import migrate, serve
from jikimi.cli.users import user_app
from jikimi.cli.webhooks import webhook_app

app = typer.Typer(
    name="jikimi",
    help="지킴이 jikimi: find and remove non-consensual sexual imagery, deepfakes included.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(name="scan")(scan)
app.command(name="serve")(serve)
app.command(name="migrate")(migrate)
app.add_typer(tenant_app, name="tenant")
app.add_typer(key_app, name="key")
app.add_typer(bank_app, name="bank")
app.add_typer(person_app, name="person")
app.add_typer(host_app, name="host")
app.add_typer(case_app, name="case")
app.add_typer(notice_app, name="notice")
app.add_typer(evidence_app, name="evidence")
app.add_typer(audit_app, name="audit")
app.add_typer(webhook_app, name="webhook")
app.add_typer(report_app, name="report")
app.add_typer(user_app, name="user")
app.add_typer(blobs_app, name="blobs")
app.command(name="worker")(worker)


@app.callback()
def _root() -> None:
    """jikimi: grade, provenance, hash matching and takedown for abusive imagery."""


def main() -> None:
    """Console-script entry point."""
    app()

"""``jikimi user add|list`` through Typer on a real SQLite database: the first admin."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from jikimi.cli import app
from jikimi.config import Settings
from jikimi.evidence import Sealer, load_or_create_secret
from jikimi.services.accounts import AccountService
from jikimi.store import Store


def test_the_first_admin_signs_in_with_the_password_from_stdin(
    tmp_path: Path, _sqlite_template: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(_sqlite_template, data / "jikimi.db")
    env = {"JIKIMI_DATA_DIR": str(data)}
    runner = CliRunner()
    assert runner.invoke(app, ["tenant", "create", "acme"], env=env).exit_code == 0
    args = ["user", "add", "--tenant", "acme", "--email", "Admin@Acme.Test", "--role", "admin"]
    done = runner.invoke(app, args, input="a long first password\n", env=env)
    assert done.exit_code == 0, done.stderr
    assert "created admin admin@acme.test" in done.stderr
    again = runner.invoke(app, args, input="a long first password\n", env=env)
    assert again.exit_code == 2 and "exists" in again.stderr
    short = runner.invoke(app, [*args[:-4], "--email", "b@acme.test"], input="short\n", env=env)
    assert short.exit_code == 2 and "12 characters" in short.stderr
    nobody = runner.invoke(
        app, ["user", "add", "--tenant", "nope", "--email", "c@x.test"], input="x" * 20, env=env
    )
    assert nobody.exit_code == 2
    listed = runner.invoke(app, ["user", "list", "--tenant", "acme"], env=env)
    assert listed.exit_code == 0
    assert listed.stdout.split("\t")[1:3] == ["admin@acme.test", "admin"]

    settings = Settings(data_dir=data)
    store = Store.from_settings(settings)
    try:
        sealer = Sealer(load_or_create_secret(data / "keys" / "evidence.key"))
        signed = AccountService(store, sealer).sign_in("admin@acme.test", "a long first password")
        assert signed.user.email == "admin@acme.test"
    finally:
        store.close()

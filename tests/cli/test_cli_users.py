"""``jikimi user add|list|reset-password`` through Typer on a real SQLite database."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from typer.testing import CliRunner

from jikimi.cli import app
from jikimi.config import Settings
from jikimi.evidence import Sealer, load_or_create_secret
from jikimi.services.accounts import AccountService
from jikimi.store import Store


def _data_dir(tmp_path: Path, template: Path) -> tuple[Path, dict[str, str]]:
    """A data directory on a copy of the migrated SQLite template, and its environment."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(template, data / "jikimi.db")
    return data, {"JIKIMI_DATA_DIR": str(data)}


def test_the_first_admin_signs_in_with_the_password_from_stdin(
    tmp_path: Path, _sqlite_template: Path
) -> None:
    data, env = _data_dir(tmp_path, _sqlite_template)
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


def test_reset_password_prints_a_link_that_sets_her_password_once(
    tmp_path: Path, _sqlite_template: Path
) -> None:
    data, env = _data_dir(tmp_path, _sqlite_template)
    runner = CliRunner()
    assert runner.invoke(app, ["tenant", "create", "acme"], env=env).exit_code == 0
    args = ["user", "add", "--tenant", "acme", "--email", "a@acme.test", "--role", "reviewer"]
    assert runner.invoke(app, args, input="a long first password\n", env=env).exit_code == 0
    reset = ["user", "reset-password", "--email", "a@acme.test", "--base-url", "https://j.test"]
    done = runner.invoke(app, reset, env=env)
    assert done.exit_code == 0, done.stderr
    link = done.stdout.strip()
    assert link.startswith("https://j.test/reset/") and "good once until" in done.stderr
    missing = runner.invoke(app, ["user", "reset-password", "--email", "x@acme.test"], env=env)
    assert missing.exit_code == 2 and "no account" in missing.stderr

    store = Store.from_settings(Settings(data_dir=data))
    try:
        accounts = AccountService(
            store, Sealer(load_or_create_secret(data / "keys" / "evidence.key"))
        )
        accounts.use_reset(link.rsplit("/", 1)[1], "the password she chose")
        assert accounts.sign_in("a@acme.test", "the password she chose").user.email == "a@acme.test"
    finally:
        store.close()


def test_reset_totp_clears_her_second_factor(tmp_path: Path, _sqlite_template: Path) -> None:
    from jikimi.services import totp

    data, env = _data_dir(tmp_path, _sqlite_template)
    runner = CliRunner()
    assert runner.invoke(app, ["tenant", "create", "acme"], env=env).exit_code == 0
    args = ["user", "add", "--tenant", "acme", "--email", "r@acme.test", "--role", "reviewer"]
    assert runner.invoke(app, args, input="a long first password\n", env=env).exit_code == 0
    store = Store.from_settings(Settings(data_dir=data))
    try:
        accounts = AccountService(
            store, Sealer(load_or_create_secret(data / "keys" / "evidence.key"))
        )
        user = accounts.sign_in("r@acme.test", "a long first password").user
        secret = totp.new_secret()
        accounts.enrol_totp(user, secret, totp.code_now(secret, time.time()))
        listed = runner.invoke(app, ["user", "list", "--tenant", "acme"], env=env)
        assert "\ttotp\t" in listed.stdout
        done = runner.invoke(app, ["user", "reset-totp", "--email", "R@acme.test"], env=env)
        assert done.exit_code == 0, done.stderr
        assert "two-step sign-in cleared for r@acme.test" in done.stderr
        listed = runner.invoke(app, ["user", "list", "--tenant", "acme"], env=env)
        assert "\tno-totp\t" in listed.stdout
        missing = runner.invoke(app, ["user", "reset-totp", "--email", "x@acme.test"], env=env)
        assert missing.exit_code == 2 and "no account" in missing.stderr
    finally:
        store.close()

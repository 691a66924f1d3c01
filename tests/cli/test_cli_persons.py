"""``jikimi person enrol|show|withdraw`` end to end, on a real SQLite database."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from face_samples import GROUP_PHOTO, astronaut
from jikimi.cli import app

CONSENT = "signed form 2026-12-01, caseworker kim"


class Cli:
    def __init__(self, data_dir: Path) -> None:
        self.env = {"JIKIMI_DATA_DIR": str(data_dir), "JIKIMI_API_KEY": ""}

    def __call__(self, *args: str, key: str | None = None) -> tuple[int, str, str]:
        env = dict(self.env, JIKIMI_API_KEY=key or "")
        result = CliRunner().invoke(app, list(args), env=env)
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cli(tmp_path: Path, _sqlite_template: Path) -> Cli:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(_sqlite_template, data / "jikimi.db")
    return Cli(data)


@pytest.fixture
def caseworker(cli: Cli) -> str:
    code, admin, _ = cli("tenant", "create", "acme")
    assert code == 0
    code, out, _ = cli("key", "issue", "--role", "caseworker", "--name", "kim", key=admin.strip())
    assert code == 0
    return out.strip()


def test_enrol_show_withdraw(cli: Cli, caseworker: str, tmp_path: Path) -> None:
    photo = tmp_path / "her.jpg"
    photo.write_bytes(astronaut())
    code, _, err = cli(
        "person", "enrol", str(photo), "--consent", CONSENT, "--case", "case_unknown",
        key=caseworker,
    )  # fmt: skip
    assert code == 2 and "no case 'case_unknown'" in err
    code, case, err = cli("case", "open", "--title", "her case", key=caseworker)
    assert code == 0, err
    code, out, err = cli(
        "person", "enrol", str(photo), "--consent", CONSENT, "--case", case.strip(), "--json",
        key=caseworker,
    )  # fmt: skip
    assert code == 0, err
    person = json.loads(out)
    assert person["templates"] == 1 and person["consent"]["text"] == CONSENT
    assert f"enrolled {person['id']}" in err
    code, out, _ = cli("person", "show", person["id"], key=caseworker)
    assert code == 0 and "active" in out and CONSENT in out
    code, out, err = cli("person", "withdraw", person["id"], "--yes", "--json", key=caseworker)
    assert code == 0 and json.loads(out)["status"] == "withdrawn"
    assert "destroyed" in err
    code, _, err = cli("person", "withdraw", person["id"], "--yes", key=caseworker)
    assert code == 2 and "already withdrawn" in err


def test_refusals_exit_2_and_say_why(cli: Cli, caseworker: str, tmp_path: Path) -> None:
    group = tmp_path / "group.jpg"
    group.write_bytes(GROUP_PHOTO.read_bytes())
    code, _, err = cli("person", "enrol", str(group), "--consent", CONSENT, key=caseworker)
    assert code == 2 and "group.jpg" in err and "faces found" in err
    missing = str(tmp_path / "missing.jpg")
    code, _, err = cli("person", "enrol", missing, "--consent", CONSENT, key=caseworker)
    assert code == 2 and "missing.jpg" in err
    code, _, err = cli("person", "show", "per_nobody", key=caseworker)
    assert code == 2 and "no person" in err
    code, _, _ = cli("person", "withdraw", "per_nobody", key=caseworker)
    assert code == 2  # no --yes and no answer: nothing done

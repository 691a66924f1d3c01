"""``jikimi bank imports`` and ``bank import --resume`` through Typer, on SQLite.

The resume of an import killed for real is in ``test_cli_import_kill.py``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jikimi.cli import app


class Cli:
    def __init__(self, data_dir: Path) -> None:
        self.env = {"JIKIMI_DATA_DIR": str(data_dir), "JIKIMI_API_KEY": ""}

    def __call__(self, *args: str, key: str = "") -> tuple[int, str, str]:
        result = CliRunner().invoke(app, list(args), env={**self.env, "JIKIMI_API_KEY": key})
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cli(tmp_path: Path, _sqlite_template: Path) -> Cli:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(_sqlite_template, data / "jikimi.db")
    return Cli(data)


@pytest.fixture
def key(cli: Cli) -> str:
    code, out, _ = cli("tenant", "create", "acme")
    assert code == 0
    assert cli("bank", "create", "KCSC", key=out.strip())[0] == 0
    return out.strip()


def test_imports_are_listed_with_their_state_and_counts(cli: Cli, key: str, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(f"pdq,{'a' * 64}\npdq,{'b' * 64}\npdq,{'a' * 64}\npdq,nothex\n")
    code, _, err = cli("bank", "import", "KCSC", str(rows), key=key)
    assert code == 1, err  # one rejected row
    assert "import imp_" in err and "started" in err

    code, out, _ = cli("bank", "imports", "KCSC", "--json", key=key)
    assert code == 0
    [record] = json.loads(out)
    assert record["id"] in err
    assert (record["state"], record["rows"], record["added"]) == ("done", 4, 2)
    assert (record["duplicates"], record["error_count"]) == (1, 1)
    assert record["file_sha256"] == hashlib.sha256(rows.read_bytes()).hexdigest()
    assert record["format"] == "csv" and "tenant_id" not in record

    code, out, _ = cli("bank", "imports", "KCSC", key=key)
    assert code == 0 and record["id"] in out and "done" in out


def test_resume_with_nothing_to_resume_is_refused(cli: Cli, key: str, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(f"pdq,{'c' * 64}\n")
    code, _, err = cli("bank", "import", "KCSC", str(rows), "--resume", key=key)
    assert code == 2
    assert "no unfinished import of this file" in err
    assert cli("bank", "import", "KCSC", str(rows), key=key)[0] == 0
    code, _, err = cli("bank", "import", "KCSC", str(rows), "--resume", key=key)
    assert code == 2 and "no unfinished import" in err  # the one there is, is done
    code, _, err = cli("bank", "imports", "NO_SUCH", key=key)
    assert code == 2 and "no bank" in err

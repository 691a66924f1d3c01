"""``jikimi bank create`` with the vPDQ match shares of a video bank."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from jikimi.cli import app


def test_bank_create_sets_the_vpdq_shares(tmp_path: Path, _sqlite_template: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(_sqlite_template, data / "jikimi.db")
    env = {"JIKIMI_DATA_DIR": str(data), "JIKIMI_API_KEY": ""}

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args), env=env)
        return result.exit_code, result.stdout

    code, key = run("tenant", "create", "acme")
    assert code == 0
    env["JIKIMI_API_KEY"] = key.strip()
    assert run("bank", "create", "CLIPS")[0] == 0
    create = ("bank", "create", "WHOLE", "--vpdq-query-pct", "90", "--vpdq-index-pct", "60")
    assert run(*create)[0] == 0
    shown = {
        name: json.loads(run("bank", "show", name, "--json")[1]) for name in ("CLIPS", "WHOLE")
    }
    assert (shown["CLIPS"]["vpdq_query_pct"], shown["CLIPS"]["vpdq_index_pct"]) == (80, 0)
    assert (shown["WHOLE"]["vpdq_query_pct"], shown["WHOLE"]["vpdq_index_pct"]) == (90, 60)
    assert run("bank", "create", "BAD", "--vpdq-query-pct", "101")[0] == 2
    assert run("bank", "show", "BAD", "--json")[0] == 2

"""``jikimi tenant|key|bank …`` end to end through Typer, on a real SQLite database.

Exit codes: 0 done, 1 partly done (an import with rejected rows), 2 nothing done
(usage, bad key, unknown bank, invalid value).
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jikimi.cli import app

KEY_RE = re.compile(r"^jk_[0-9A-Z]{26}_[A-Za-z0-9_-]{43}$")


class Cli:
    """Runs ``jikimi`` with the environment of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {"JIKIMI_DATA_DIR": str(data_dir), "JIKIMI_API_KEY": ""}

    def __call__(self, *args: str, key: str | None = None) -> tuple[int, str, str]:
        env = dict(self.env)
        if key is not None:
            env["JIKIMI_API_KEY"] = key
        result = CliRunner().invoke(app, list(args), env=env)
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cli(tmp_path: Path, _sqlite_template: Path) -> Cli:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(_sqlite_template, data / "jikimi.db")
    return Cli(data)


@pytest.fixture
def admin_key(cli: Cli) -> str:
    code, out, _ = cli("tenant", "create", "acme")
    assert code == 0
    return out.strip()


def lines(text: str) -> Sequence[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_tenant_create_prints_the_key_once(cli: Cli) -> None:
    code, out, err = cli("tenant", "create", "acme")
    assert code == 0, err
    [key] = lines(out)
    assert KEY_RE.match(key)
    assert "shown once" in err and key not in err
    code, out, _ = cli("tenant", "list")
    assert code == 0 and "acme" in out and key not in out
    code, _, err = cli("tenant", "create", "acme")
    assert code == 2 and "acme" in err
    code, _, err = cli("tenant", "create", "Not A Name")
    assert code == 2 and "tenant name" in err


def test_keys_issue_list_revoke(cli: Cli, admin_key: str) -> None:
    code, out, err = cli(
        "key", "issue", "--role", "platform", "--name", "uploads", "--key", admin_key
    )
    assert code == 0, err
    [platform_key] = lines(out)
    assert KEY_RE.match(platform_key)
    code, out, _ = cli("key", "list", "--json", key=admin_key)  # key from JIKIMI_API_KEY
    keys = json.loads(out)
    assert code == 0 and {k["role"] for k in keys} == {"admin", "platform"}
    assert all("secret" not in k for k in keys)
    [uploads] = [k for k in keys if k["name"] == "uploads"]

    code, _, err = cli("key", "list", key=platform_key)
    assert code == 2 and "manage API keys" in err
    code, _, err = cli("key", "revoke", uploads["id"], key=admin_key)
    assert code == 0, err
    code, _, err = cli("bank", "list", key=platform_key)
    assert code == 2 and "revoked" in err


def test_bank_create_import_export(cli: Cli, admin_key: str, tmp_path: Path) -> None:
    code, _, err = cli(
        "bank", "create", "KCSC_TAKEDOWNS", "--kind", "takedown", "--threshold", "20",
        "--dihedral", "--label", "ncii", "--label", "kcsc", key=admin_key,
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = cli("bank", "show", "KCSC_TAKEDOWNS", "--json", key=admin_key)
    bank = json.loads(out)
    assert (bank["kind"], bank["pdq_threshold"], bank["dihedral"]) == ("takedown", 20, True)
    assert bank["labels"] == ["ncii", "kcsc"]

    good = [secrets.token_hex(32) for _ in range(4)]
    rows = ["signal_type,signal_value,metadata"]
    rows += [f"pdq,{h}," for h in good[:2]]
    rows += ["pdq,xyz,", "sha1,da39a3ee5e6b4b0d3255bfef95601890afd80709,"]
    rows += [f"pdq,{h}," for h in good[2:]]
    hashes = tmp_path / "hashes.csv"
    hashes.write_text("\n".join(rows) + "\n")

    code, _, err = cli("bank", "import", "KCSC_TAKEDOWNS", str(hashes), key=admin_key)
    assert code == 1, err  # partly done: two rows rejected
    assert "6 rows: 4 added, 0 already there, 2 rejected" in err
    assert "line 4: invalid_hash" in err and "line 5: unknown_signal_type" in err

    code, _, err = cli("bank", "import", "KCSC_TAKEDOWNS", str(hashes), key=admin_key)
    assert code == 1 and "0 added, 4 already there" in err  # re-importing is safe

    code, out, err = cli("bank", "export", "KCSC_TAKEDOWNS", key=admin_key)
    assert code == 0, err
    exported = list(csv.DictReader(io.StringIO(out)))
    assert sorted(r["signal_value"] for r in exported) == sorted(good)
    target = tmp_path / "out.json"
    code, _, _ = cli(
        "bank", "export", "KCSC_TAKEDOWNS", "--format", "json", "-o", str(target), key=admin_key
    )
    assert code == 0
    assert sorted(o["signal_value"] for o in json.loads(target.read_text())) == sorted(good)

    code, out, _ = cli("bank", "list", key=admin_key)
    assert code == 0 and "KCSC_TAKEDOWNS" in out
    code, _, _ = cli("bank", "delete", "KCSC_TAKEDOWNS", "--yes", key=admin_key)
    assert code == 0
    code, _, err = cli("bank", "show", "KCSC_TAKEDOWNS", key=admin_key)
    assert code == 2 and "KCSC_TAKEDOWNS" in err


def test_clean_import_exits_0(cli: Cli, admin_key: str, tmp_path: Path) -> None:
    assert cli("bank", "create", "CLEAN", key=admin_key)[0] == 0
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"signal_type": "md5", "signal_value": secrets.token_hex(16)}))
    code, _, err = cli("bank", "import", "CLEAN", str(rows), "--no-progress", key=admin_key)
    assert code == 0, err
    assert "1 added" in err


@pytest.mark.parametrize(
    "args",
    [
        ["bank", "list"],  # no key at all
        ["bank", "create", "lower_case"],  # invalid name
        ["bank", "create", "OK_NAME", "--kind", "nonsense"],  # bad option value
        ["bank", "create", "OK_NAME", "--threshold", "99"],  # out of range
        ["bank", "import", "NO_SUCH_BANK", "/no/such/file.csv"],
        ["bank", "export", "NO_SUCH_BANK"],
        ["key", "revoke", "key_NOPE"],
    ],
)
def test_usage_errors_exit_2(cli: Cli, admin_key: str, args: list[str]) -> None:
    key = None if args == ["bank", "list"] else admin_key
    code, out, _ = cli(*args, key=key)
    assert code == 2
    assert out == ""


def test_bad_key_exits_2_with_a_message(cli: Cli) -> None:
    code, _, err = cli("bank", "list", key="jk_not-a-key")
    assert code == 2 and "malformed API key" in err


def test_migrate_and_serve_help(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "fresh")
    code, _, err = cli("migrate")
    assert code == 0, err
    assert (tmp_path / "fresh" / "jikimi.db").is_file()
    code, out, _ = cli("serve", "--help")
    assert code == 0 and "--port" in out

"""``jikimi bank update|add|entries|disable|enable|withdraw`` end to end through Typer.

Each test runs the real commands on a real database, SQLite and PostgreSQL in turn
(``database_url``), as a regulator's admin key would. Exit codes are the other
``bank`` commands': 0 done, 2 nothing done.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from skimage import data as skdata
from typer.testing import CliRunner

from jikimi.cli import app
from jikimi.signals.vpdq import format_vpdq_json, parse_vpdq, video_identity

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "vpdq"
CHAIR = CONFORMANCE / "chair-19-sd-bar.vpdq.txt"
BANK = "KCSC_TAKEDOWNS"


class Cli:
    """Runs ``jikimi`` against one data directory and database."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.env = {
            "JIKIMI_DATA_DIR": str(data_dir),
            "JIKIMI_DATABASE_URL": database_url,
            "JIKIMI_API_KEY": "",
        }

    def __call__(
        self, *args: str, key: str | None = None, stdin: str | None = None, columns: int = 80
    ) -> tuple[int, str, str]:
        """Exit code, stdout, stderr; Rich lays tables out for a terminal ``columns`` wide."""
        env = dict(self.env, JIKIMI_API_KEY=key or "", COLUMNS=str(columns))
        result = CliRunner().invoke(app, list(args), env=env, input=stdin)
        return result.exit_code, result.stdout, result.stderr

    def json(self, *args: str, key: str) -> Any:
        """Run a ``--json`` command that must succeed; its parsed output."""
        code, out, err = self(*args, "--json", key=key)
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Cli:
    return Cli(tmp_path / "data", database_url)


@pytest.fixture
def admin_key(cli: Cli) -> str:
    code, out, err = cli("tenant", "create", "kcsc")
    assert code == 0, err
    return out.strip()


@pytest.fixture
def platform_key(cli: Cli, admin_key: str) -> str:
    code, out, err = cli("key", "issue", "--role", "platform", "--name", "uploads", key=admin_key)
    assert code == 0, err
    return out.strip()


@pytest.fixture
def bank(cli: Cli, admin_key: str) -> str:
    code, _, err = cli("bank", "create", BANK, "--threshold", "20", "--dihedral",
                       "--label", "ncii", "--vpdq-query-pct", "90", key=admin_key)  # fmt: skip
    assert code == 0, err
    return BANK


def entries(cli: Cli, key: str, *options: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = cli.json("bank", "entries", BANK, *options, key=key)
    return listed


def settings_of(shown: dict[str, Any]) -> dict[str, Any]:
    names = ("kind", "pdq_threshold", "dihedral", "variants", "labels", "enabled",
             "keep_evidence", "vpdq_query_pct", "vpdq_index_pct")  # fmt: skip
    return {name: shown[name] for name in names}


# --- update -----------------------------------------------------------------------


def test_update_changes_only_the_options_given(cli: Cli, admin_key: str, bank: str) -> None:
    before = settings_of(cli.json("bank", "show", bank, key=admin_key))

    after = settings_of(cli.json("bank", "update", bank, "--threshold", "10", key=admin_key))
    assert after == before | {"pdq_threshold": 10}

    args = ("--kind", "watch", "--no-dihedral", "--disable", "--label", "a", "--label", "b",
            "--keep-evidence", "--vpdq-query-pct", "70", "--vpdq-index-pct", "50",
            "--no-variants")  # fmt: skip
    after = settings_of(cli.json("bank", "update", bank, *args, key=admin_key))
    assert after == {
        "kind": "watch",
        "pdq_threshold": 10,
        "dihedral": False,
        "variants": False,
        "labels": ["a", "b"],
        "enabled": False,
        "keep_evidence": True,
        "vpdq_query_pct": 70,
        "vpdq_index_pct": 50,
    }
    cleared = settings_of(cli.json("bank", "update", bank, "--clear-labels", key=admin_key))
    assert cleared == after | {"labels": []}

    code, out, err = cli("bank", "update", bank, "--enable", key=admin_key)  # the show table
    assert code == 0, err
    assert bank in out and "watch" in out and f"updated bank {bank}" in err


def test_update_refusals_change_nothing(
    cli: Cli, admin_key: str, platform_key: str, bank: str
) -> None:
    before = cli.json("bank", "show", bank, key=admin_key)

    code, out, err = cli("bank", "update", bank, "--threshold", "5", key=platform_key)
    assert (code, out) == (2, "") and "role 'platform' may not change banks" in err
    code, _, err = cli("bank", "update", bank, key=admin_key)
    assert code == 2 and "nothing to change" in err
    code, _, err = cli("bank", "update", bank, "--label", "x", "--clear-labels", key=admin_key)
    assert code == 2 and "not both" in err
    code, _, err = cli("bank", "update", bank, "--label", "no spaces", key=admin_key)
    assert code == 2 and "label 'no spaces'" in err
    code, _, err = cli("bank", "update", bank, "--threshold", "65", key=admin_key)
    assert code == 2 and "pdq_threshold: must be between 0 and 64 bits" in err
    code, _, err = cli("bank", "update", "NO_SUCH_BANK", "--threshold", "5", key=admin_key)
    assert code == 2 and "no bank 'NO_SUCH_BANK'" in err

    assert cli.json("bank", "show", bank, key=admin_key) == before


# --- add --------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "digits"), [("--pdq", 64), ("--md5", 32), ("--sha256", 64)])
def test_add_a_hash_of_each_type(
    cli: Cli, admin_key: str, bank: str, option: str, digits: int
) -> None:
    value = secrets.token_hex(digits // 2)
    meta = ("--note", "case 117", "--source", "kcsc", "--metadata", '{"case": 117}')
    added = cli.json("bank", "add", bank, option, value.upper(), *meta, key=admin_key)
    assert added["signal"] == option.removeprefix("--")
    assert added["value"] == value  # canonical: lower-case hex
    assert (added["note"], added["source"], added["metadata"]) == (
        "case 117",
        "kcsc",
        {"case": 117},
    )
    assert re.match(r"^ent_\w+$", added["id"])

    code, out, err = cli("bank", "add", bank, option, value, key=admin_key)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"already in bank {bank} as {added['id']}" in err
    assert [e["id"] for e in entries(cli, admin_key)] == [added["id"]]


def test_add_an_image_file(cli: Cli, admin_key: str, bank: str, tmp_path: Path) -> None:
    photo = tmp_path / "coffee.jpg"
    Image.fromarray(skdata.coffee()).save(photo, "JPEG", quality=90)

    code, out, err = cli("bank", "add", bank, str(photo), key=admin_key)
    assert code == 0, err
    [listed] = entries(cli, admin_key)
    assert listed["signal"] == "pdq" and re.match(r"^[0-9a-f]{64}$", listed["value"])
    assert listed["media_sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert listed["id"] in out and "pdq" in out

    code, _, err = cli("bank", "add", bank, "--pdq", listed["value"], key=admin_key)
    assert code == 2 and "already in bank" in err  # the file's hash is the entry
    assert len(entries(cli, admin_key)) == 1


def test_reindex_reports_what_it_could_do(
    cli: Cli, admin_key: str, bank: str, tmp_path: Path
) -> None:
    photo = tmp_path / "coffee.jpg"
    Image.fromarray(skdata.coffee()).save(photo, "JPEG", quality=90)
    code, _, err = cli("bank", "update", bank, "--keep-evidence", "--no-variants", key=admin_key)
    assert code == 0, err
    assert cli("bank", "add", bank, str(photo), key=admin_key)[0] == 0  # no variants yet
    assert cli("bank", "add", bank, "--pdq", secrets.token_hex(32), key=admin_key)[0] == 0
    assert cli("bank", "update", bank, "--variants", key=admin_key)[0] == 0
    report = cli.json("bank", "reindex", bank, key=admin_key)
    assert report == {
        "bank": bank,
        "entries": 2,
        "updated": 1,
        "hash_only": 1,
        "media_missing": 0,
        "kept": 0,
        "unreadable": 0,
    }
    code, _, err = cli("bank", "reindex", bank, key=admin_key)
    assert code == 0 and "1 of 2 PDQ entries given variants" in err and "1 banked as" in err


def test_add_a_vpdq_hash_file_in_either_form(
    cli: Cli, admin_key: str, bank: str, tmp_path: Path
) -> None:
    if not CHAIR.is_file():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    frames = parse_vpdq(CHAIR.read_text())

    added = cli.json("bank", "add", bank, "--vpdq", str(CHAIR), key=admin_key)
    assert (added["signal"], added["value"]) == ("vpdq", video_identity(frames))

    as_json = tmp_path / "chair.json"  # ThreatExchange's form: the same video, the same entry
    as_json.write_text(format_vpdq_json(frames))
    code, _, err = cli("bank", "add", bank, "--vpdq", str(as_json), key=admin_key)
    assert code == 2 and f"already in bank {bank} as {added['id']}" in err

    code, _, err = cli("bank", "add", bank, str(CHAIR), key=admin_key)
    assert code == 2 and "vPDQ hash file is added as a vpdq hash" in err  # forgot --vpdq
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"0,100,\xe9\n")
    code, _, err = cli("bank", "add", bank, "--vpdq", str(latin1), key=admin_key)
    assert code == 2 and "not UTF-8" in err
    assert [e["id"] for e in entries(cli, admin_key)] == [added["id"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "exactly one of --pdq, --md5, --sha256 or FILE"),
        (("--md5", "0" * 32, "--sha256", "0" * 64), "exactly one of"),
        (("--md5", "0" * 32, "FILE"), "exactly one of"),
        (("--vpdq", "--md5", "0" * 32), "--vpdq says FILE is a vPDQ hash file"),
        (("--md5", "abc"), "32 hex digits"),
        (("--pdq", "0" * 64, "--metadata", "{nope"), "--metadata is not JSON"),
        (("--pdq", "0" * 64, "--metadata", "[1]"), "--metadata must be a JSON object"),
    ],
)
def test_add_refuses_bad_input(
    cli: Cli, admin_key: str, bank: str, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    file = tmp_path / "x.jpg"
    file.write_bytes(b"not read")
    argv = [str(file) if a == "FILE" else a for a in args]
    code, out, err = cli("bank", "add", bank, *argv, key=admin_key)
    assert (code, out) == (2, "")
    assert message in " ".join(err.split())  # messages may wrap at the console width
    assert entries(cli, admin_key) == []


def test_add_refuses_a_platform_key_and_an_unknown_bank(
    cli: Cli, admin_key: str, platform_key: str, bank: str
) -> None:
    code, _, err = cli("bank", "add", bank, "--md5", "0" * 32, key=platform_key)
    assert code == 2 and "role 'platform' may not change banks" in err
    code, _, err = cli("bank", "add", "NO_SUCH_BANK", "--md5", "0" * 32, key=admin_key)
    assert code == 2 and "no bank 'NO_SUCH_BANK'" in err
    assert entries(cli, admin_key) == []


# --- entries ----------------------------------------------------------------------


def test_entries_pages_up_to_the_limit(cli: Cli, admin_key: str, bank: str, tmp_path: Path) -> None:
    values = [secrets.token_hex(16) for _ in range(150)]
    rows = tmp_path / "rows.csv"
    rows.write_text("signal_type,signal_value,metadata\n" + "".join(f"md5,{v},\n" for v in values))
    code, _, err = cli("bank", "import", bank, str(rows), "--no-progress", key=admin_key)
    assert code == 0, err

    code, out, err = cli("bank", "entries", bank, "--limit", "120", "--json", key=admin_key)
    assert code == 0, err
    listed = json.loads(out)
    assert [e["value"] for e in listed] == values[:120]  # two pages, in order, none twice
    assert "120 entries shown, 30 more" in err

    code, _, err = cli("bank", "entries", bank, key=admin_key)  # default limit: 100
    assert code == 0 and "100 entries shown, 50 more" in err
    code, out, err = cli("bank", "entries", bank, "--limit", "500", key=admin_key, columns=160)
    assert code == 0 and "150 entries shown" in err and "more" not in err
    rows = [line for line in out.splitlines() if "ent_" in line]  # one line per entry
    assert len(rows) == 150
    assert [row.split()[1] for row in rows[:120]] == [e["id"] for e in listed]
    assert f"{values[0][:16]}…" in rows[0] and values[0] not in out  # shortened
    code, _, err = cli("bank", "entries", bank, "--status", "active", "--limit", "120",
                       key=admin_key)  # fmt: skip
    assert code == 0 and "120 entries shown; there are more" in err

    code, _, err = cli("bank", "entries", bank, "--status", "withdrawn", key=admin_key)
    assert code == 2
    code, _, err = cli("bank", "entries", "NO_SUCH_BANK", key=admin_key)
    assert code == 2 and "no bank 'NO_SUCH_BANK'" in err


# --- disable, enable, withdraw --------------------------------------------------------


def test_disable_enable_withdraw(cli: Cli, admin_key: str, platform_key: str, bank: str) -> None:
    kept, gone = secrets.token_hex(32), secrets.token_hex(32)
    kept_id = cli.json("bank", "add", bank, "--pdq", kept, key=admin_key)["id"]
    gone_id = cli.json("bank", "add", bank, "--pdq", gone, key=admin_key)["id"]

    code, _, err = cli("bank", "disable", bank, gone_id, key=admin_key)
    assert code == 0 and "is disabled" in err
    assert [e["id"] for e in entries(cli, admin_key, "--status", "disabled")] == [gone_id]
    assert [e["id"] for e in entries(cli, admin_key, "--status", "active")] == [kept_id]
    code, _, err = cli("bank", "enable", bank, gone_id, key=admin_key)
    assert code == 0 and "is active" in err
    assert {e["status"] for e in entries(cli, admin_key)} == {"active"}

    code, _, err = cli("bank", "disable", bank, gone_id, key=platform_key)
    assert code == 2 and "role 'platform' may not change banks" in err
    code, _, err = cli("bank", "disable", bank, "ent_NOPE", key=admin_key)
    assert code == 2 and f"no entry ent_NOPE in bank {bank}" in err

    code, out, _ = cli("bank", "withdraw", bank, gone_id, key=admin_key, stdin="n\n")
    assert code != 0 and f"Withdraw entry {gone_id} from bank {bank}?" in out
    assert {e["id"]: e["status"] for e in entries(cli, admin_key)} == {
        kept_id: "active",
        gone_id: "active",
    }  # 'n' keeps it
    code, _, err = cli("bank", "withdraw", bank, gone_id, key=admin_key, stdin="y\n")
    assert code == 0 and "is withdrawn" in err
    assert [e["id"] for e in entries(cli, admin_key)] == [kept_id]
    assert cli.json("bank", "show", bank, key=admin_key)["entry_count"] == 1

    code, _, err = cli("bank", "add", bank, "--pdq", gone, key=admin_key)
    assert code == 2 and "withdrawn from bank" in err and "final" in err
    for verb in (["enable"], ["disable"], ["withdraw", "--yes"]):
        code, _, err = cli("bank", verb[0], bank, gone_id, *verb[1:], key=admin_key)
        assert code == 2 and f"no entry {gone_id}" in err
    code, _, _ = cli("bank", "withdraw", bank, kept_id, "--yes", key=admin_key)
    assert code == 0 and entries(cli, admin_key) == []


def test_user_text_is_shown_as_text_not_rich_markup(cli: Cli, admin_key: str, bank: str) -> None:
    """A source or an argument like "[/]" would otherwise crash Rich (exit 1) or style output."""
    code, _, err = cli("bank", "add", bank, "--pdq", "[/]", key=admin_key)
    assert code == 2 and "[/]" in err, err
    code, _, err = cli("bank", "disable", bank, "[/x]", key=admin_key)
    assert code == 2 and "[/x]" in err, err
    md5 = secrets.token_hex(16)
    code, _, err = cli("bank", "add", bank, "--md5", md5, "--source", "[/] [link=http://x]y[/link]",
                       key=admin_key)  # fmt: skip
    assert code == 0, err
    code, out, err = cli("bank", "entries", bank, key=admin_key, columns=200)
    assert code == 0, err
    assert "[/] [link=http://x]y[/link]" in out


def test_no_answer_to_withdraw_is_a_no(cli: Cli, admin_key: str, bank: str) -> None:
    md5 = secrets.token_hex(16)
    entry = cli.json("bank", "add", bank, "--md5", md5, key=admin_key)
    code, _, _ = cli("bank", "withdraw", bank, entry["id"], key=admin_key, stdin="")
    assert code == 2  # nothing done (not 1, "partly done")
    listed = cli.json("bank", "entries", bank, key=admin_key)
    assert [e["id"] for e in listed] == [entry["id"]]

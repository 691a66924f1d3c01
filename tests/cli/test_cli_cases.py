"""``jikimi host|case|notice|evidence|audit|report`` end to end, on both databases.

A caseworker at a terminal: adds a host, opens a case (number + PIN shown once),
captures a URL from a host on 127.0.0.1 (sealed evidence, hashes, a Verdict) and
adds a hash, drafts the notice, has a reviewer approve it, marks it sent; then
exports the evidence bundle and verifies it offline (and a tampered copy), checks
the audit chain (and catches a row edited in the database) and prints a report.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from jikimi.cli import app
from jikimi.config import Settings
from jikimi.store import Store
from jikimi.store.case_models import AuditRow

IMAGE = (Path(__file__).resolve().parents[2] / "src/jikimi/data/samples/coffee.jpg").read_bytes()


class _Host(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(IMAGE)))
        self.end_headers()
        self.wfile.write(IMAGE)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Host)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


class Cli:
    def __init__(self, settings: Settings) -> None:
        self.env = {
            "JIKIMI_DATA_DIR": str(settings.data_dir),
            "JIKIMI_DATABASE_URL": settings.database_url,
            "JIKIMI_CAPTURE_ALLOW_NETWORKS": '["127.0.0.1/32"]',
            "JIKIMI_API_KEY": "",
        }

    def __call__(self, *args: str, key: str = "") -> tuple[int, str, str]:
        result = CliRunner().invoke(app, list(args), env={**self.env, "JIKIMI_API_KEY": key})
        return result.exit_code, result.stdout, result.stderr

    def bytes_out(self, *args: str, key: str) -> bytes:
        result = CliRunner().invoke(app, list(args), env={**self.env, "JIKIMI_API_KEY": key})
        assert result.exit_code == 0, result.stderr
        return result.stdout_bytes


def _ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, err or out
    return out.strip()


def test_the_takedown_loop_at_a_terminal(settings: Settings, port: int, tmp_path: Path) -> None:
    cli = Cli(settings)
    admin = _ok(cli("tenant", "create", "centre"))
    worker = _ok(cli("key", "issue", "--role", "caseworker", "--name", "desk", key=admin))
    reviewer = _ok(cli("key", "issue", "--role", "reviewer", "--name", "lead", key=admin))

    _ok(
        cli(
            "host", "add", "pics", "--name", "Pics", "--language", "ko",
            "--contact", "form:https://pics.example/report", "--basis", "kcsc,take_it_down",
            key=worker,
        )
    )  # fmt: skip
    code, _, err = cli("host", "add", "bad", "--name", "B", "--contact", "fax:123", key=worker)
    assert code == 2 and "email:ADDRESS" in err
    hosts = json.loads(_ok(cli("host", "list", "--json", key=worker)))
    assert [h["slug"] for h in hosts] == ["pics"] and hosts[0]["language"] == "ko"

    code, out, err = cli(
        "case", "open", "--title", "Student A", "--victim-contact", "010-1", key=worker
    )
    assert code == 0, err
    case_id = out.strip()
    assert case_id.startswith("case_") and "PIN" in err and "010-1" not in out + err

    url = f"http://127.0.0.1:{port}/p/1.jpg"
    item_id = _ok(
        cli("case", "add-item", case_id, url, "--host", "pics", "--source", "@ch", key=worker)
    )
    hashed = _ok(cli("case", "add-item", case_id, "--md5", "ab" * 16, "--host", "pics", key=worker))
    code, _, err = cli("case", "add-item", case_id, key=worker)
    assert code == 2 and "--pdq" in err

    code, out, err = cli("notice", "draft", case_id, "--host", "pics", key=worker)
    assert code == 0, err
    notice_id = out.strip()
    assert url in err and "ab" * 16 in err  # the text, for the caseworker to read
    code, _, err = cli("notice", "approve", notice_id, key=worker)
    assert code == 2 and err.strip().startswith("error:")
    assert _ok(cli("notice", "approve", notice_id, key=reviewer)) == "approved"
    code, _, err = cli("notice", "send", notice_id, key=worker)
    assert code == 2 and "mark-sent" in err
    assert _ok(cli("notice", "mark-sent", notice_id, "--note", "web form", key=worker)) == "sent"

    shown = json.loads(_ok(cli("case", "show", case_id, "--json", key=worker)))
    assert {i["id"]: i["status"] for i in shown["items"]} == {
        item_id: "notified",
        hashed: "notified",
    }
    assert shown["notices"][0]["state"] == "sent"
    assert "PIN" not in json.dumps(shown) and "010-1" not in json.dumps(shown)

    # evidence: exported, verified offline, and a tampered copy caught
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(cli.bytes_out("evidence", "export", item_id, key=worker))
    code, out, _ = cli("evidence", "verify", str(bundle))
    assert code == 0 and item_id in out, out
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["url"] == url and manifest["verdict"] and manifest["evidence_sha256"]
        files = {n: zf.read(n) for n in zf.namelist()}
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, b"not the image" if name == "content.bin" else data)
    (tmp_path / "bad.zip").write_bytes(tampered.getvalue())
    code, out, _ = cli("evidence", "verify", str(tmp_path / "bad.zip"))
    assert code == 1 and "ALTERED" in out and "content.bin" in out

    # the audit chain: whole, then one row edited behind jikimi's back
    code, out, _ = cli("audit", "verify", "--json", key=reviewer)
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["checked"] > 5
    head = report["head"]
    assert _ok(cli("audit", "verify", "--checkpoint", head, key=admin)).startswith("ok")
    code, _, err = cli("audit", "verify", key=worker)
    assert code == 2  # a caseworker does not audit herself
    store = Store.from_settings(settings)
    try:
        with store.session(write=True) as s, s.begin():
            s.execute(sa.update(AuditRow).where(AuditRow.seq == 3).values(action="nothing"))
    finally:
        store.close()
    code, out, _ = cli("audit", "verify", key=reviewer)
    assert code == 1 and "row 3" in out, out

    figures = json.loads(
        _ok(cli("report", "--from", "2000-01-01", "--to", "2999-12-31", "--json", key=reviewer))
    )
    [row] = figures["hosts"]
    assert row["host"] == "pics" and row["requested"] == 2 and row["still_up"] == 2
    csv = _ok(cli("report", "--from", "2000-01-01", "--to", "2999-12-31", "--csv", key=reviewer))
    assert csv.splitlines()[1].startswith("pics,Pics,2,0,2,")
    period = ("--from", "2000-01-01", "--to", "2999-12-31")
    sor = json.loads(_ok(cli("report", "sor", *period, "--items", key=reviewer)))
    assert sor == {"statements": []}  # nothing confirmed removed yet
    sor_csv = _ok(cli("report", "sor", *period, "--csv", key=reviewer))
    assert sor_csv.startswith("puid,decision_visibility,")
    assert cli("report", "--json", key=reviewer)[0] == 2  # no period
    # the key may follow the subcommand too (no $JIKIMI_API_KEY)
    assert json.loads(_ok(cli("report", "sor", *period, "--key", reviewer))) == {"statements": []}
    assert json.loads(_ok(cli("report", "overdue", "--json", "--key", reviewer))) == {"items": []}

    assert _ok(cli("case", "close", case_id, key=worker)) == ""
    shown = json.loads(_ok(cli("case", "show", case_id, "--json", key=worker)))
    assert shown["case"]["status"] == "closed"

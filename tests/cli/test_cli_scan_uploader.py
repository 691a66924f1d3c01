"""`jikimi scan --uploader ID` is `POST /v1/scan?uploader=ID` from the command line.

Three uploads by one uploader that match the tenant's takedown bank, scanned by
the CLI, are removed and stored; the fourth (an image that matches nothing) is
held by the bundled ``risky-source`` rule; the API then sees the same standing:
its scan of an innocent upload by that uploader is held too, and
``GET /v1/sources/{id}`` counts the CLI's scans.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from jikimi.api.app import create_app
from jikimi.api.scanning import LazyScanner
from jikimi.cli import app
from jikimi.config import Settings

SAMPLES = Path(str(resources.files("jikimi.data").joinpath("samples")))
ASTRONAUT, COFFEE = SAMPLES / "astronaut.jpg", SAMPLES / "coffee.jpg"

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    env = {
        "JIKIMI_DATA_DIR": str(settings.data_dir),
        "JIKIMI_DATABASE_URL": settings.database_url or "",
        "JIKIMI_API_KEY": "",
    }
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def _scan(settings: Settings, path: Path, *options: str) -> dict[str, Any]:
    code, out, err = _cli(settings, "scan", str(path), "--json", *options)
    assert code == 0, err
    [line] = [x for x in out.splitlines() if x.strip()]
    verdict: dict[str, Any] = json.loads(line)
    return verdict


def test_cli_uploader_scans_build_the_sources_standing_like_the_api(settings: Settings) -> None:
    code, out, err = _cli(settings, "tenant", "create", "acme")
    assert code == 0, err
    key = out.strip()
    for args in (
        ("bank", "create", "TAKE", "--kind", "takedown", "--key", key),
        ("bank", "add", "TAKE", str(ASTRONAUT), "--key", key),
    ):
        code, _, err = _cli(settings, *args)
        assert code == 0, err

    before = _scan(settings, COFFEE, "--tenant", "acme", "--uploader", "u-9")
    assert "risky-source" not in before["decision"]["rules"]
    assert before["source"]["uploader"] == "u-9"
    source_id = before["source"]["source_id"]
    for _ in range(3):
        removed = _scan(settings, ASTRONAUT, "--key", key, "--uploader", "u-9")
        assert removed["decision"]["action"] == "remove"
        assert removed["source"]["source_id"] == source_id
    held = _scan(settings, COFFEE, "--tenant", "acme", "--uploader", "u-9")
    assert held["decision"]["action"] == "hold"
    assert "risky-source" in held["decision"]["rules"]
    # without an uploader, the same file is not held: the standing is the source's
    plain = _scan(settings, COFFEE, "--tenant", "acme")
    assert "risky-source" not in plain["decision"]["rules"]

    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings, scanner=LazyScanner(settings))) as client:
        r = client.post(
            "/v1/scan",
            params={"uploader": "u-9"},
            files={"file": ("coffee.jpg", COFFEE.read_bytes())},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["decision"]["action"] == "hold"
        assert r.json()["source"]["source_id"] == source_id
        risk = client.get(f"/v1/sources/{source_id}", headers=headers)
        assert risk.status_code == 200, risk.text
    body = risk.json()
    assert body["handle"] == "u-9"
    assert body["scans"] == 6  # five by the CLI, one by the API
    assert body["confirmed"] == 3 and body["scans_flagged"] == 5


def test_cli_uploader_needs_a_tenant_and_a_valid_id(settings: Settings) -> None:
    code, _, err = _cli(settings, "scan", str(COFFEE), "--uploader", "u-1")
    assert code == 2 and "--uploader needs --key or --tenant" in err
    assert _cli(settings, "tenant", "create", "acme")[0] == 0
    code, _, err = _cli(settings, "scan", str(COFFEE), "--tenant", "acme", "--uploader", " ")
    assert code == 2 and "uploader" in err

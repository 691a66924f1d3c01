"""`jikimi scan` matches against a tenant's banks exactly as `POST /v1/scan` does.

The same files go through the CLI (in process, and with worker processes that load
the bank snapshot from files) and through the API; their Verdicts must agree field
by field, ids and sources aside.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
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
FILES = sorted(p for p in SAMPLES.iterdir() if p.suffix in {".jpg", ".png"})

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Cli:
    def __init__(self, settings: Settings) -> None:
        self.env = {
            "JIKIMI_DATA_DIR": str(settings.data_dir),
            "JIKIMI_DATABASE_URL": settings.database_url or "",
            "JIKIMI_API_KEY": "",
        }

    def __call__(self, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, list(args), env=self.env)
        return result.exit_code, result.stdout, result.stderr

    def ok(self, *args: str) -> str:
        code, out, err = self(*args)
        assert code == 0, err
        return out

    def scan(self, *options: str) -> list[dict[str, Any]]:
        out = self.ok("scan", *map(str, FILES), "--json", *options)
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def _comparable(verdict: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in verdict.items() if k not in {"id", "source"}}


def _api_verdicts(settings: Settings, key: str, files: Sequence[Path]) -> list[dict[str, Any]]:
    out = []
    with TestClient(create_app(settings, scanner=LazyScanner(settings))) as client:
        for path in files:
            r = client.post(
                "/v1/scan",
                headers={"Authorization": f"Bearer {key}"},
                files={"file": (path.name, path.read_bytes())},
            )
            assert r.status_code == 200, r.text
            out.append(r.json())
    return out


def test_cli_scan_matches_like_the_api(settings: Settings) -> None:
    cli = Cli(settings)
    key = cli.ok("tenant", "create", "acme").strip()
    astronaut, coffee = SAMPLES / "astronaut.jpg", SAMPLES / "coffee.jpg"
    cli.ok("bank", "create", "TAKE", "--kind", "takedown", "--key", key)
    cli.ok("bank", "add", "TAKE", str(astronaut), "--key", key)
    cli.ok("bank", "create", "SAFE", "--kind", "suppression", "--key", key)
    md5 = hashlib.md5(coffee.read_bytes()).hexdigest()
    cli.ok("bank", "add", "SAFE", "--md5", md5, "--key", key)

    by_key = cli.scan("--key", key)
    found = {Path(v["source"]["path"]).name: v["matches"] for v in by_key}
    assert [(m["bank"], m["bank_kind"]) for m in found["astronaut.jpg"]] == [("TAKE", "takedown")]
    assert [(m["bank"], m["signal"]) for m in found["coffee.jpg"]] == [("SAFE", "md5")]
    taken = next(v for v in by_key if Path(v["source"]["path"]).name == "astronaut.jpg")
    assert taken["decision"]["action"] == "remove"

    api = _api_verdicts(settings, key, FILES)
    assert [_comparable(v) for v in by_key] == [_comparable(v) for v in api]
    assert [_comparable(v) for v in cli.scan("--tenant", "acme")] == [_comparable(v) for v in api]
    pooled = cli.scan("--key", key, "--workers", "2")
    assert [_comparable(v) for v in pooled] == [_comparable(v) for v in api]

    unmatched = cli.scan("--key", key, "--no-match")
    assert all(v["matches"] == [] for v in unmatched)
    assert [_comparable(v) for v in cli.scan()] == [_comparable(v) for v in unmatched]


def test_cli_scan_refuses_a_bad_key_or_tenant(settings: Settings) -> None:
    cli = Cli(settings)
    code, out, err = cli("scan", str(FILES[0]), "--key", "jk_nope")
    assert code == 2 and out == "" and "error" in err
    code, _, err = cli("scan", str(FILES[0]), "--tenant", "nobody")
    assert code == 2 and "nobody" in err

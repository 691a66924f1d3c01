"""`jikimi scan --key/--tenant` matches faces against the tenant's enrolled persons,
exactly as `POST /v1/scan` does (same templates, opened with the same face key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from face_samples import GROUP_PHOTO, astronaut, variant
from jikimi.api.app import create_app
from jikimi.api.scanning import LazyScanner
from jikimi.cli import app
from jikimi.config import Settings

CONSENT = "signed form 2026-12-01, caseworker kim"

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Cli:
    def __init__(self, settings: Settings) -> None:
        self.env = {
            "JIKIMI_DATA_DIR": str(settings.data_dir),
            "JIKIMI_DATABASE_URL": settings.database_url or "",
            "JIKIMI_API_KEY": "",
        }

    def ok(self, *args: str) -> str:
        result = CliRunner().invoke(app, list(args), env=self.env)
        assert result.exit_code == 0, result.stderr
        return result.stdout

    def faces(self, files: list[Path], *options: str) -> list[list[dict[str, Any]]]:
        out = self.ok("scan", *map(str, files), "--json", *options)
        return [json.loads(line)["faces"] for line in out.splitlines() if line.strip()]


def test_cli_and_api_give_the_same_faces(settings: Settings, tmp_path: Path) -> None:
    cli = Cli(settings)
    admin = cli.ok("tenant", "create", "acme").strip()
    caseworker = cli.ok(
        "key", "issue", "--role", "caseworker", "--name", "kim", "--key", admin
    ).strip()
    portrait = tmp_path / "her.jpg"
    portrait.write_bytes(astronaut())
    person = json.loads(
        cli.ok(
            "person", "enrol", str(portrait), "--consent", CONSENT, "--json", "--key", caseworker
        )
    )
    upload, group = tmp_path / "upload.jpg", tmp_path / "group.jpg"
    upload.write_bytes(variant(astronaut()))
    group.write_bytes(GROUP_PHOTO.read_bytes())
    files = [upload, group]

    by_key = cli.faces(files, "--key", admin)
    [her] = by_key[0]
    assert her["person"] == person["id"] and her["similarity"] >= 0.5
    assert len(by_key[1]) >= 5 and all(f["person"] is None for f in by_key[1])

    api = []
    with TestClient(create_app(settings, scanner=LazyScanner(settings))) as client:
        for path in files:
            r = client.post(
                "/v1/scan",
                headers={"Authorization": f"Bearer {admin}"},
                files={"file": (path.name, path.read_bytes())},
            )
            assert r.status_code == 200, r.text
            api.append(r.json()["faces"])
    assert by_key == api
    assert cli.faces(files, "--tenant", "acme") == api
    assert cli.faces(files, "--key", admin, "--workers", "2") == api
    assert cli.faces(files, "--key", admin, "--no-match") == [[], []]  # nobody: no face stage

    cli.ok("person", "withdraw", person["id"], "--yes", "--key", caseworker)
    assert cli.faces(files, "--key", admin) == [[], []]

"""Helpers of the browser tests: who exists, signing in, reading the audit log."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from playwright.sync_api import BrowserContext, Page

from jikimi.config import Settings
from jikimi.domain import Role
from jikimi.store.users import User

PASSWORD = "a long test passphrase"
SAMPLES = Path(__file__).resolve().parents[2] / "src" / "jikimi" / "data" / "samples"


@dataclass
class Side:
    name: str
    tenant_id: str
    admin_key: str
    users: dict[Role, User]

    def email(self, role: Role) -> str:
        return self.users[role].email


@dataclass
class Live:
    base: str
    data_dir: Path
    settings: Settings
    sides: tuple[Side, Side]

    def api(self, side: Side) -> httpx.Client:
        return httpx.Client(
            base_url=self.base,
            headers={"Authorization": f"Bearer {side.admin_key}"},
            timeout=120,
        )

    def audit(self, action: str, entity_id: str | None = None) -> list[dict[str, Any]]:
        engine = sa.create_engine(self.settings.database_url)
        try:
            with engine.connect() as c:
                q = "SELECT actor, entity, entity_id, action, data FROM audit_log WHERE action = :a"
                params: dict[str, Any] = {"a": action}
                if entity_id is not None:
                    q += " AND entity_id = :e"
                    params["e"] = entity_id
                rows = [dict(r._mapping) for r in c.execute(sa.text(q + " ORDER BY seq"), params)]
        finally:
            engine.dispose()
        for row in rows:
            if isinstance(row["data"], str):  # SQLite hands JSON back as text
                row["data"] = json.loads(row["data"])
        return rows


def sign_in(context: BrowserContext, email: str, password: str = PASSWORD, code: str = "") -> Page:
    page = context.new_page()
    page.goto("/signin")
    page.fill("#email", email)
    page.fill("#password", password)
    if code:
        page.fill("#code", code)
    page.click("form button.primary")
    page.wait_for_load_state()
    return page


def shot(page: Page, name: str) -> None:
    """Save a screenshot when ``JIKIMI_UI_SCREENSHOTS`` names a directory."""
    directory = os.environ.get("JIKIMI_UI_SCREENSHOTS", "")
    if directory:
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)


def held_scan(live: Live, side: Side, bank: str = "WATCH") -> str:
    """A scan the policy holds: a sample whose PDQ is in a watch bank of ``side``."""
    with live.api(side) as api:
        if api.get(f"/v1/banks/{bank}").status_code == 404:
            assert api.post("/v1/banks", json={"name": bank, "kind": "watch"}).status_code == 201
            with (SAMPLES / "rocket.jpg").open("rb") as f:
                r = api.post(f"/v1/banks/{bank}/entries", files={"file": f})
            assert r.status_code == 201, r.text
        with (SAMPLES / "rocket.jpg").open("rb") as f:
            r = api.post("/v1/scan", files={"file": ("rocket.jpg", f, "image/jpeg")})
        assert r.status_code == 200, r.text
        verdict = r.json()
        assert verdict["decision"]["action"] == "hold", verdict
        return str(verdict["id"])

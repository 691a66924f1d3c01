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
    mail: list[Any]
    """Envelopes the SMTP server beside the live server received."""

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


def new_user(live: Live, email: str, role: Role) -> User:
    """An account of its own for a test that changes it (or counts what it sees)."""
    from jikimi.evidence import Sealer, load_or_create_secret
    from jikimi.services.accounts import AccountService
    from jikimi.store import Store

    store = Store.from_settings(live.settings)
    try:
        sealer = Sealer(load_or_create_secret(live.data_dir / "keys" / "evidence.key"))
        return AccountService(store, sealer).create(live.sides[0].tenant_id, email, role, PASSWORD)
    finally:
        store.close()


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


def ensure_bank(api: httpx.Client, name: str, kind: str) -> None:
    if api.get(f"/v1/banks/{name}").status_code == 404:
        r = api.post("/v1/banks", json={"name": name, "kind": kind})
        assert r.status_code == 201, r.text


def held_scan(live: Live, side: Side, sample: str = "rocket.jpg") -> str:
    """A scan the policy holds: a sample whose PDQ is in a watch bank of ``side``.

    Also makes the banks the review tests decide into (``TAKEDOWN_UI``, ``SAFE_UI``).
    """
    with live.api(side) as api:
        ensure_bank(api, "WATCH", "watch")
        ensure_bank(api, "TAKEDOWN_UI", "takedown")
        ensure_bank(api, "SAFE_UI", "suppression")
        with (SAMPLES / sample).open("rb") as f:
            r = api.post("/v1/banks/WATCH/entries", files={"file": f})
        assert r.status_code in (201, 409), r.text
        with (SAMPLES / sample).open("rb") as f:
            r = api.post("/v1/scan", files={"file": (sample, f, "image/jpeg")})
        assert r.status_code == 200, r.text
        verdict = r.json()
        assert verdict["decision"]["action"] == "hold", verdict
        return str(verdict["id"])

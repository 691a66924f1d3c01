"""Fixtures of the browser tests: a live jikimi on 127.0.0.1, real Chromium, real accounts.

One server per session (uvicorn in a subprocess, on a temporary data directory
with its SQLite database) and one browser per session (Debian's ``chromium``
driven by Playwright through ``executable_path``: Playwright never downloads a
browser); each test gets a fresh browser context, so cookies never leak between
tests. ``world`` holds two tenants with an account per role and an admin API key
each, made through the services before the server starts.

Without ``/usr/bin/chromium`` these tests are skipped, unless
``JIKIMI_REQUIRE_BROWSER=1`` (set by CI), which makes them fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from ui_helpers import PASSWORD, Live, Side

from jikimi.config import Settings
from jikimi.domain import Role
from jikimi.evidence import Sealer, load_or_create_secret
from jikimi.services import TenantService
from jikimi.services.accounts import AccountService
from jikimi.store import Store, migrate

CHROMIUM = Path(os.environ.get("JIKIMI_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = os.environ.get("JIKIMI_UI_SCREENSHOTS", "")
"""A directory to write each page's screenshot into (``docs/ui`` to refresh the docs)."""


def _require_browser() -> bool:
    return os.environ.get("JIKIMI_REQUIRE_BROWSER", "") in ("1", "true", "yes")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _make_side(tenants: TenantService, accounts: AccountService, name: str) -> Side:
    tenant, issued = tenants.create(name)
    users = {}
    for role in Role:
        email = f"{role.value}@{name}.test"
        users[role] = accounts.create(tenant.id, email, role, PASSWORD)
    return Side(name=name, tenant_id=tenant.id, admin_key=issued.secret, users=users)


class _Mailbox:
    """An SMTP server's inbox: the notices the live server sends."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The server, its data directory, its two tenants and a real SMTP server beside it."""
    data = tmp_path_factory.mktemp("ui-live")
    box = _Mailbox()
    smtp_port = _free_port()
    smtp = Controller(box, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    env = {
        **os.environ,
        "JIKIMI_DATA_DIR": str(data),
        "JIKIMI_SMTP_HOST": "127.0.0.1",
        "JIKIMI_SMTP_PORT": str(smtp_port),
        "JIKIMI_GRADE_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    env.pop("JIKIMI_DATABASE_URL", None)
    settings = Settings(data_dir=data)
    migrate(settings)
    store = Store.from_settings(settings)
    sealer = Sealer(load_or_create_secret(data / "keys" / "evidence.key"))
    accounts = AccountService(store, sealer)
    tenants = TenantService(store)
    sides = (_make_side(tenants, accounts, "acme"), _make_side(tenants, accounts, "other"))
    store.close()
    port = _free_port()
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "jikimi.api.app:create_app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited: {(data / 'server.log').read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start within 120 s")
            time.sleep(0.3)
        yield Live(base=base, data_dir=data, settings=settings, sides=sides, mail=box.messages)
    finally:
        smtp.stop()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One Chromium for the session (Debian's, never a downloaded one)."""
    if not CHROMIUM.is_file() or shutil.which(str(CHROMIUM)) is None:
        message = f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium`"
        if _require_browser():
            pytest.fail(message)
        pytest.skip(message)
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser: object, live: Live) -> Iterator[object]:
    """A fresh browser context (its own cookies) per test."""
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    ctx = browser.new_context(base_url=live.base, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(20_000)
    try:
        yield ctx
    finally:
        ctx.close()


def pytest_configure(config: pytest.Config) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)

"""Fixtures of the victim page's browser tests: a live server and real Chromium.

The server is the production app (``create_app``) under uvicorn on 127.0.0.1, on a
fresh migrated SQLite file in a temporary data directory, with one tenant
("centre") set as ``victim_tenant``. The browser is Debian's ``chromium`` driven
by Playwright through ``executable_path``: Playwright never downloads a browser.
Without Chromium the tests skip, except when ``JIKIMI_REQUIRE_BROWSER=1`` (CI),
where they fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from jikimi.api.app import create_app
from jikimi.api.scanning import LazyScanner
from jikimi.config import Settings
from jikimi.services.tenants import TenantService
from jikimi.store import Store

CHROMIUM = Path(os.environ.get("JIKIMI_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "ui"


class _IdleScanner(LazyScanner):
    """The page never scans: no model is loaded for these tests (the machine is shared)."""

    def warm_up(self) -> None:
        return None


@dataclass
class LiveServer:
    url: str
    settings: Settings
    store: Store
    received: list[tuple[str, str, bytes]]
    """Every request body the server read: (method, path, body), as it arrived."""


class _Recorder:
    """ASGI wrapper keeping each request body as the server received it.

    The browser's own request log cannot show bodies made of Blobs (a multipart
    upload), so "no image bytes were sent" is checked where they would arrive.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.received: list[tuple[str, str, bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recording() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self.received.append((scope["method"], scope["path"], b"".join(chunks)))
            return message

        await self.app(scope, recording, send)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serve(directory: Path, template: Path) -> Iterator[LiveServer]:
    db = directory / "jikimi.db"
    shutil.copyfile(template, db)
    settings = Settings(
        data_dir=directory / "data", database_url=f"sqlite:///{db}", victim_tenant="centre"
    )
    store = Store.from_settings(settings)
    TenantService(store).create("centre")
    TenantService(store).create("other")
    port = _free_port()
    app = _Recorder(create_app(settings, scanner=_IdleScanner(settings)))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="victim-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings, store, app.received)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        store.close()


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path
) -> Iterator[LiveServer]:
    """The server the page tests share."""
    with _serve(tmp_path_factory.mktemp("victim-server"), _sqlite_template) as server:
        yield server


@pytest.fixture
def fresh_server(tmp_path: Path, _sqlite_template: Path) -> Iterator[LiveServer]:
    """A server of its own, for a test that uses up a rate limit of 127.0.0.1."""
    with _serve(tmp_path, _sqlite_template) as server:
        yield server


# ``browser``: the one Chromium of the session, from tests/browser/conftest.py (a second
# Playwright in the same process would clash with the first's event loop).


@pytest.fixture
def page(browser: object, live_server: LiveServer) -> Iterator[object]:
    context = browser.new_context(  # type: ignore[attr-defined]
        base_url=live_server.url, locale="ko-KR", viewport={"width": 390, "height": 844}
    )
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests put their screenshots: ``docs/ui`` when
    ``JIKIMI_UI_SCREENSHOTS=1`` (to refresh the committed pictures), else a
    temporary folder, so a test run leaves the work tree as it was."""
    if os.environ.get("JIKIMI_UI_SCREENSHOTS", "") in ("1", "true", "yes"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")

"""Two apps on one database (as two ``jikimi serve`` on one PostgreSQL): the pages' state
that must be shared is in the database, not in either app.

Each app has its own context and services (no state in common but the database);
the victim page's report limit counts across both, and an import started through
one shows its progress bar, 100 % and all, through the other.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jikimi.api.app import create_app
from jikimi.api.scanning import LazyScanner
from jikimi.config import Settings
from jikimi.domain import BankCreate, BankKind, Role
from jikimi.evidence import Sealer
from jikimi.services import BankService, TenantService
from jikimi.services.accounts import AccountService, principal_of
from jikimi.services.selfreports import REPORTS_PER_HOUR
from jikimi.store import Store, ui_imports

PASSWORD = "a long test passphrase"
MD5 = "0" * 31 + "1"
_KEYS = ("evidence_key", "instance_key", "face_key")
"""Given as values, the same to both (replicas share keys, not a disk)."""


class _IdleScanner(LazyScanner):
    """No page here scans: no model is loaded (the machine is shared)."""

    def warm_up(self) -> None:
        return None


@pytest.fixture
def replicas(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, TestClient]]:
    keys = {name: base64.b64encode(secrets.token_bytes(32)).decode() for name in _KEYS}
    settings = [
        Settings(
            data_dir=tmp_path / name, database_url=database_url, victim_tenant="centre", **keys
        )
        for name in ("a", "b")
    ]
    store = Store.from_settings(settings[0])
    try:
        tenants = TenantService(store)
        tenants.create("centre")
        acme, _ = tenants.create("acme")
        accounts = AccountService(store, Sealer(base64.b64decode(keys["evidence_key"])))
        admin = accounts.create(acme.id, "admin@acme.test", Role.ADMIN, PASSWORD)
        BankService(store, settings=settings[0]).create(
            principal_of(admin), BankCreate(name="SHARED_UI", kind=BankKind.TAKEDOWN)
        )
    finally:
        store.close()
    with ExitStack() as stack:
        clients = [
            stack.enter_context(
                TestClient(create_app(s, scanner=_IdleScanner(s)), base_url="http://127.0.0.1")
            )
            for s in settings
        ]
        yield clients[0], clients[1]


def _sign_in(client: TestClient) -> str:
    token = client.get("/signin").text.split('name="csrf" value="')[1].split('"')[0]
    r = client.post(
        "/signin",
        data={"email": "admin@acme.test", "password": PASSWORD, "csrf": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get("/admin/banks").text
    return page.split('name="csrf" value="')[1].split('"')[0]


def test_the_report_limit_counts_across_replicas(
    replicas: tuple[TestClient, TestClient],
) -> None:
    a, b = replicas
    body = {"items": [{"md5": MD5}], "language": "en"}
    statuses = [
        (a if n % 2 else b).post("/victim/api/report", json=body).status_code
        for n in range(REPORTS_PER_HOUR + 2)
    ]
    assert statuses[:REPORTS_PER_HOUR] == [201] * REPORTS_PER_HOUR
    assert statuses[REPORTS_PER_HOUR:] == [429, 429]  # each alone would still take them
    status = a.post("/victim/status", data={"number": "2026-00000000", "pin": "1"})
    assert status.status_code == 404  # reports are not wrong PINs: her lookup still works


def test_an_imports_progress_reads_the_same_on_both(
    replicas: tuple[TestClient, TestClient],
) -> None:
    a, b = replicas
    csrf_a, _ = _sign_in(a), _sign_in(b)
    rows = "signal_type,signal_value\n" + "".join(f"md5,{i:032x}\n" for i in range(1, 201))
    r = a.post(
        "/admin/banks/SHARED_UI/import",
        data={"csrf": csrf_a},
        files={"file": ("hashes.csv", rows.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    found = re.search(r"/admin/imports/(imp_\w+)", r.headers["location"])
    assert found is not None
    url = f"/admin/imports/{found.group(1)}.json"
    deadline = time.monotonic() + 60
    while (progress := b.get(url).json())["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert progress["total"] == 201  # the lines of the file counted by replica A
    assert progress["state"] == "done" and progress["percent"] == 100
    assert progress["added"] == 200
    assert a.get(url).json() == progress
    with b.app.state.context.store.session() as s:  # type: ignore[attr-defined]
        assert ui_imports.get_total(s, found.group(1)) == 201  # in the database itself

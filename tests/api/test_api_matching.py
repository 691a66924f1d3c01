"""Matching through the HTTP door: stored scans, dihedral banks, late entries, readiness."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
from api_helpers import SAMPLES, TestClient, bearer, jpeg
from PIL import Image

from jikimi.api.app import create_app
from jikimi.api.scanning import LazyScanner
from jikimi.config import Settings
from jikimi.domain import BankCreate, BankKind, EntryCreate, SignalKind
from jikimi.services import BankService, KeyService, TenantService
from jikimi.store import Store


@pytest.fixture
def fast(sqlite_settings: Settings) -> Settings:
    return sqlite_settings.model_copy(
        update={"match_poll_s": 0.05, "retro_batch_s": 0.05, "retro_settle_s": 0.0}
    )


@pytest.fixture
def key(fast: Settings) -> str:
    store = Store.from_settings(fast)
    try:
        _, issued = TenantService(store).create("acme")
    finally:
        store.close()
    return issued.secret


@pytest.fixture
def client(fast: Settings, shared_scanner: LazyScanner) -> Iterator[TestClient]:
    with TestClient(create_app(fast, scanner=shared_scanner)) as c:
        yield c


def mirrored(data: bytes) -> bytes:
    out = io.BytesIO()
    flipped = Image.open(io.BytesIO(data)).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    flipped.save(out, "JPEG", quality=90)
    return out.getvalue()


def wait_for(check: object, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_readyz_reports_the_loaded_index(client: TestClient) -> None:
    wait_for(lambda: client.get("/readyz").status_code == 200)
    assert client.get("/readyz").json()["checks"] == {
        "database": True,
        "index": True,
        "blobs": True,
    }


def test_a_stored_scan_is_read_by_another_process(
    client: TestClient, key: str, fast: Settings, shared_scanner: LazyScanner
) -> None:
    r = client.post("/v1/scan", files={"file": ("a.jpg", jpeg(5))}, headers=bearer(key))
    assert r.status_code == 200, r.text
    with TestClient(create_app(fast, scanner=shared_scanner)) as other:
        again = other.get(f"/v1/scans/{r.json()['id']}", headers=bearer(key))
    assert again.status_code == 200 and again.json() == r.json()


def test_dihedral_banks_catch_mirrored_uploads(client: TestClient, key: str) -> None:
    h = bearer(key)
    image = (SAMPLES / "astronaut.jpg").read_bytes()  # a photo: synthetic blocks flip badly
    for name, dihedral in (("FLIPS", True), ("PLAIN", False)):
        bank = {"name": name, "kind": "watch", "dihedral": dihedral}
        assert client.post("/v1/banks", json=bank, headers=h).status_code == 201
        r = client.post(f"/v1/banks/{name}/entries", files={"file": ("x.jpg", image)}, headers=h)
        assert r.status_code == 201, r.text
    v = client.post("/v1/scan", files={"file": ("m.jpg", mirrored(image))}, headers=h).json()
    assert [m["bank"] for m in v["matches"]] == ["FLIPS"]
    assert v["matches"][0]["distance"] <= 31
    assert v["decision"]["action"] == "hold"


def test_entries_added_elsewhere_match_within_the_poll(
    client: TestClient, key: str, fast: Settings
) -> None:
    h = bearer(key)
    store = Store.from_settings(fast)  # like `jikimi bank import` in another process
    try:
        principal = KeyService(store).authenticate(key)
        cli = BankService(store, settings=fast)
        cli.create(principal, BankCreate(name="CLI_BANK", kind=BankKind.TAKEDOWN))
        value = "f" * 64
        cli.add_entry(principal, "CLI_BANK", EntryCreate(signal=SignalKind.PDQ, value=value))
    finally:
        store.close()
    body = {"hashes": [{"type": "pdq", "value": value}]}

    def matched() -> bool:
        r = client.post("/v1/match", json=body, headers=h)
        return bool(r.json()["results"][0]["matches"])

    wait_for(matched, 5)


def test_a_late_entry_shows_up_on_the_stored_scan(client: TestClient, key: str) -> None:
    h = bearer(key)
    image = jpeg(31)
    scan = client.post("/v1/scan", files={"file": ("late.jpg", image)}, headers=h).json()
    assert scan["matches"] == []
    assert client.post("/v1/banks", json={"name": "LATE", "kind": "takedown"}, headers=h)
    r = client.post("/v1/banks/LATE/entries", files={"file": ("x.jpg", image)}, headers=h)
    assert r.status_code == 201, r.text

    def found() -> bool:
        matches = client.get(f"/v1/scans/{scan['id']}", headers=h).json()["matches"]
        return [m["entry"] for m in matches] == [r.json()["id"]]

    wait_for(found)

"""``POST /v1/scan`` and ``GET /v1/scans/{id}``: real photos in, Verdict v1 out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_helpers import SAMPLES, TestClient, World, assert_problem, bearer, jpeg

from jikimi.api.app import create_app
from jikimi.api.fetch import UrlFetcher
from jikimi.api.scanning import LazyScanner
from jikimi.config import Settings
from jikimi.services import TenantService
from jikimi.store import Store

ROCKET = SAMPLES / "rocket.jpg"
COFFEE = SAMPLES / "coffee.jpg"


def test_real_jpeg_gives_a_verdict_v1(sqlite_world: World) -> None:
    c, a = sqlite_world.client, sqlite_world.a
    data = ROCKET.read_bytes()
    r = c.post("/v1/scan", files={"file": ("rocket.jpg", data)}, headers=a.headers())
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["schema"] == "jikimi.verdict/1" and v["id"].startswith("scn_")
    assert v["error"] is None
    assert v["source"] == {"filename": "rocket.jpg"}
    assert v["media"]["format"] == "jpeg" and v["media"]["bytes"] == len(data)
    assert {s["type"] for s in v["signals"]} == {"pdq", "md5", "sha256"}
    assert v["grade"]["label"] == "normal"
    assert v["synthetic"]["label"] in {"evidence", "no_evidence"}
    assert v["decision"]["action"] == "allow" and v["decision"]["reasons"]

    stored = c.get(f"/v1/scans/{v['id']}", headers=a.headers())
    assert stored.status_code == 200 and stored.json() == v
    other = c.get(f"/v1/scans/{v['id']}", headers=sqlite_world.b.headers())
    assert_problem(other, 404, "not_found")


def test_scan_counts_in_metrics(sqlite_world: World) -> None:
    c, a = sqlite_world.client, sqlite_world.a

    def normal_allows() -> float:
        for line in c.get("/metrics").text.splitlines():
            if line.startswith('jikimi_scans_total{action="allow",grade="normal"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = normal_allows()
    c.post("/v1/scan", files={"file": ("x.jpg", jpeg(5))}, headers=a.headers())
    assert normal_allows() == before + 1
    assert 'route="/v1/scan",status="200"' in c.get("/metrics").text


def test_scan_of_a_banked_image_is_removed(sqlite_world: World) -> None:
    c, a = sqlite_world.client, sqlite_world.a
    r = c.post("/v1/scan", files={"file": ("x.jpg", a.image)}, headers=a.headers())
    v = r.json()
    assert [(m["bank"], m["entry"], m["distance"]) for m in v["matches"]] == [
        (a.bank, a.entry_id, 0)
    ]
    assert v["decision"]["action"] == "remove"
    other = c.post("/v1/scan", files={"file": ("x.jpg", a.image)}, headers=sqlite_world.b.headers())
    assert other.json()["matches"] == [] and other.json()["decision"]["action"] == "allow"


@pytest.fixture
def small_limits(
    sqlite_settings: Settings, shared_scanner: LazyScanner
) -> Iterator[tuple[TestClient, dict[str, str], Path]]:
    limits = {"max_bytes": 30_000, "max_upload_bytes": 30_000, "video_max_bytes": 30_000}
    settings = sqlite_settings.model_copy(update=limits)
    store = Store.from_settings(settings)
    _, key = TenantService(store).create("tiny")
    store.close()
    with TestClient(create_app(settings, scanner=shared_scanner)) as client:
        yield client, bearer(key.secret), settings.data_dir


def _scans_total(client: TestClient) -> float:
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("jikimi_scans_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_oversized_upload_is_413_and_nothing_is_stored(
    small_limits: tuple[TestClient, dict[str, str], Path],
) -> None:
    c, h, data_dir = small_limits
    bank = {"name": "EVIDENCE", "kind": "takedown", "keep_evidence": True}
    assert c.post("/v1/banks", json=bank, headers=h).status_code == 201
    a_bit_big = COFFEE.read_bytes()  # over the file limit, under the body limit
    assert 30_000 < len(a_bit_big) < 30_000 + 64 * 1024
    r = c.post("/v1/scan", files={"file": ("x.jpg", a_bit_big)}, headers=h)
    assert_problem(r, 413, "media_too_large")
    far_too_big = a_bit_big * 5
    r = c.post("/v1/scan", files={"file": ("x.jpg", far_too_big)}, headers=h)
    assert_problem(r, 413, "payload_too_large")
    r = c.post("/v1/banks/EVIDENCE/entries", files={"file": ("x.jpg", a_bit_big)}, headers=h)
    assert_problem(r, 413, "media_too_large")

    assert _scans_total(c) == 0
    assert c.get("/v1/banks/EVIDENCE", headers=h).json()["entry_count"] == 0
    blobs = data_dir / "blobs"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))


def test_scan_needs_a_file_or_url(sqlite_world: World) -> None:
    c, h = sqlite_world.client, sqlite_world.a.headers()
    assert_problem(c.post("/v1/scan", data={"other": "x"}, headers=h), 422, "validation_error")
    assert_problem(c.post("/v1/scan", data={}, headers=h), 422, "validation_error")
    r = c.post("/v1/scan", json={"url": "ftp://example.org/x.jpg"}, headers=h)
    assert_problem(r, 422, "validation_error")


def test_url_fetch_is_off_by_default(sqlite_world: World) -> None:
    c, h = sqlite_world.client, sqlite_world.a.headers()
    r = c.post("/v1/scan", json={"url": "https://example.org/x.jpg"}, headers=h)
    assert_problem(r, 403, "url_fetch_disabled")


def _fake_web(request: httpx.Request) -> httpx.Response:
    """example.org serves an image, redirects, and a huge file; nothing else exists."""
    if request.url.host != "images.example.org":
        raise AssertionError(f"fetched a host that is not allowed: {request.url}")
    if request.url.path == "/photo.jpg":
        return httpx.Response(200, content=ROCKET.read_bytes())
    if request.url.path == "/same-host-redirect":
        return httpx.Response(302, headers={"location": "/photo.jpg"})
    if request.url.path == "/evil-redirect":
        return httpx.Response(302, headers={"location": "http://169.254.169.254/latest"})
    if request.url.path == "/huge.jpg":
        return httpx.Response(200, content=b"\xff" * 200_000)
    return httpx.Response(404)


@pytest.fixture
def fetching(
    sqlite_settings: Settings, shared_scanner: LazyScanner
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = sqlite_settings.model_copy(
        update={
            "url_fetch_enabled": True,
            "url_fetch_allow_hosts": ["images.example.org"],
            "max_bytes": 150_000,
        }
    )
    store = Store.from_settings(settings)
    _, key = TenantService(store).create("fetcher")
    store.close()
    fetcher = UrlFetcher(settings, transport=httpx.MockTransport(_fake_web))
    with TestClient(create_app(settings, fetcher=fetcher, scanner=shared_scanner)) as client:
        yield client, bearer(key.secret)


def test_url_fetch_when_enabled(fetching: tuple[TestClient, dict[str, str]]) -> None:
    c, h = fetching
    url = "https://images.example.org/photo.jpg"
    r = c.post("/v1/scan", json={"url": url}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["source"] == {"url": url} and r.json()["media"]["format"] == "jpeg"
    r = c.post("/v1/scan", data={"url": "https://images.example.org/same-host-redirect"}, headers=h)
    assert r.status_code == 200, r.text

    cases = [
        ("https://elsewhere.example.org/photo.jpg", 403, "url_not_allowed"),
        ("https://images.example.org/evil-redirect", 403, "url_not_allowed"),
        ("https://images.example.org/huge.jpg", 413, "media_too_large"),
        ("https://images.example.org/missing.jpg", 422, "url_fetch_failed"),
    ]
    for bad, status, code in cases:
        assert_problem(c.post("/v1/scan", json={"url": bad}, headers=h), status, code)

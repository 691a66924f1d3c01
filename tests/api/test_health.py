"""Liveness, readiness, metrics and the OpenAPI documents."""

from __future__ import annotations

import shutil
from pathlib import Path

from api_helpers import TestClient, World, assert_problem

from jikimi.api.app import create_app
from jikimi.api.scanning import LazyScanner
from jikimi.config import Settings


def test_healthz_and_readyz(sqlite_world: World) -> None:
    c = sqlite_world.client
    assert c.get("/healthz").json()["status"] == "ok"
    ready = c.get("/readyz").json()
    assert ready == {"status": "ok", "checks": {"database": True, "index": True, "blobs": True}}


def test_readyz_is_503_when_the_database_is_gone(
    sqlite_settings: Settings, shared_scanner: LazyScanner
) -> None:
    with TestClient(create_app(sqlite_settings, scanner=shared_scanner)) as c:
        assert c.get("/readyz").status_code == 200
        c.app.state.context.store.engine.dispose()  # type: ignore[attr-defined]
        db = Path(sqlite_settings.database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)
        db.mkdir()  # a directory where the file was: SQLite cannot open it
        body = assert_problem(c.get("/readyz"), 503, "not_ready")
        assert "database" in body["detail"]
        assert c.get("/healthz").status_code == 200  # alive, just not ready
        db.rmdir()


def test_readyz_says_the_blob_store_cannot_take_blobs(
    sqlite_settings: Settings, shared_scanner: LazyScanner, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    settings = sqlite_settings.model_copy(update={"blob_store": str(blocked / "blobs")})
    with TestClient(create_app(settings, scanner=shared_scanner)) as c:
        assert c.get("/readyz").status_code == 200
        shutil.rmtree(blocked)  # (made by the first check)
        blocked.write_text("a file where the blob folder's parent should be")
        body = assert_problem(c.get("/readyz"), 503, "not_ready")
        assert body["detail"].startswith("not ready: blobs (")
        assert str(blocked / "blobs") in body["detail"] and "Error" in body["detail"]
        assert "database" not in body["detail"] and "index" not in body["detail"]
        blocked.unlink()
        assert c.get("/readyz").status_code == 200


PUBLIC_V1 = {("post", "/v1/status")}
"""The one /v1 route without a key: a victim's case status by case number and PIN."""


def test_openapi_and_docs(sqlite_world: World) -> None:
    c = sqlite_world.client
    spec = c.get("/openapi.json").json()
    assert spec["info"]["title"] == "jikimi"
    assert "Problem" in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            assert op.get("summary"), f"{method} {path} has no summary"
            assert "200" in op["responses"] or "201" in op["responses"] or "204" in op["responses"]
            if (method, path) in PUBLIC_V1:  # no key; a guessing limit instead
                assert not op.get("security"), f"{method} {path} must not ask for a key"
                assert "429" in op["responses"], f"{method} {path} does not document 429"
            elif path.startswith("/v1/"):
                assert "401" in op["responses"], f"{method} {path} does not document 401"
                assert op.get("security"), f"{method} {path} does not declare the API key"
    scan = spec["paths"]["/v1/scan"]["post"]
    assert set(scan["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    docs = c.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_metrics_are_prometheus_text(sqlite_world: World) -> None:
    c = sqlite_world.client
    c.get("/healthz")
    c.get("/no/such/route")
    r = c.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'jikimi_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "jikimi_http_request_duration_seconds_bucket" in text

"""Every error is an RFC 9457 problem with our stable code, whatever raised it.

One case per error class of :mod:`jikimi.errors` that a caller can cause, plus
the framework's own (no route, wrong method, invalid body, body too large) and
the middleware's (timeout, unexpected exception).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_helpers import TestClient, World, assert_problem, random_hex
from fastapi import FastAPI

from jikimi import errors
from jikimi.api import problems
from jikimi.api.middleware import TimeoutMiddleware
from jikimi.config import Settings
from jikimi.domain import Role


def test_service_errors_map_to_statuses(sqlite_world: World) -> None:
    w, a = sqlite_world, sqlite_world.a
    c = w.client
    assert_problem(c.get("/v1/banks"), 401, "unauthorized")
    assert_problem(c.get("/v1/keys", headers=a.headers(Role.CURATOR)), 403, "forbidden")
    assert_problem(c.get("/v1/banks/NO_SUCH_BANK", headers=a.headers()), 404, "not_found")
    dup = {"name": a.bank, "kind": "watch"}
    assert_problem(c.post("/v1/banks", json=dup, headers=a.headers()), 409, "conflict")
    bad_label = {"name": "LABELLED", "kind": "watch", "labels": ["no spaces allowed"]}
    r = c.post("/v1/banks", json=bad_label, headers=a.headers())
    assert assert_problem(r, 422, "validation_error")["errors"][0]["loc"] == "body.labels.0"
    body = {"signal": "pdq", "value": a.entry_value}
    r = c.post(f"/v1/banks/{a.bank}/entries", json=body, headers=a.headers())
    assert_problem(r, 409, "conflict")


def test_media_errors_keep_their_codes(sqlite_world: World) -> None:
    c, a = sqlite_world.client, sqlite_world.a
    cases = [
        (b"", "empty_media"),
        (b"just some text, not an image", "unsupported_media"),
        # Cut inside the header: no picture at all (a cut later in the file is scanned
        # as far as it goes, media.truncated; see tests/test_pipeline_truncated.py).
        (a.image[:20], "corrupt_media"),
    ]
    for data, code in cases:
        r = c.post("/v1/scan", files={"file": ("x.jpg", data)}, headers=a.headers())
        assert_problem(r, 422, code)


def test_framework_errors_are_problems(sqlite_world: World) -> None:
    c, a = sqlite_world.client, sqlite_world.a
    assert_problem(c.get("/no/such/route"), 404, "not_found")
    r = c.delete("/healthz")
    assert_problem(r, 405, "method_not_allowed")
    assert "GET" in r.headers["allow"]
    r = c.post("/v1/banks", content=b"{not json", headers=a.headers())
    assert_problem(r, 422, "validation_error")


def test_validation_problem_names_the_field(sqlite_world: World) -> None:
    c, a = sqlite_world.client, sqlite_world.a
    hashes = [{"type": "md5", "value": random_hex(32)} for _ in range(5)]
    hashes[3] = {"type": "pdq", "value": "abc"}
    body = assert_problem(
        c.post("/v1/match", json={"hashes": hashes}, headers=a.headers()), 422, "validation_error"
    )
    assert [e["loc"] for e in body["errors"]] == ["body.hashes.3.value"]
    assert "64 hex digits" in body["errors"][0]["message"]
    assert "body.hashes.3.value" in body["detail"]

    too_many = [{"type": "md5", "value": random_hex(32)}] * 1001
    body = assert_problem(
        c.post("/v1/match", json={"hashes": too_many}, headers=a.headers()),
        422,
        "validation_error",
    )
    assert body["errors"][0]["loc"] == "body.hashes"

    r = c.post("/v1/banks", json={"name": "lower case", "kind": "nope"}, headers=a.headers())
    locs = {e["loc"] for e in assert_problem(r, 422, "validation_error")["errors"]}
    assert locs == {"body.name", "body.kind"}


def test_oversized_json_body_is_413_without_reading(sqlite_world: World) -> None:
    c, a = sqlite_world.client, sqlite_world.a
    big = b'{"name": "' + b"X" * (2 * 1024 * 1024) + b'"}'
    headers = {**a.headers(), "content-type": "application/json"}
    r = c.post("/v1/banks", content=big, headers=headers)
    assert_problem(r, 413, "payload_too_large")


def test_oversized_chunked_body_is_413(sqlite_world: World) -> None:
    """No Content-Length: the limit trips while reading."""
    c, a = sqlite_world.client, sqlite_world.a

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):
            yield b"X" * 65536
        yield b'"}'

    r = c.post(
        "/v1/banks", content=chunks(), headers={**a.headers(), "content-type": "application/json"}
    )
    assert "content-length" not in r.request.headers
    assert_problem(r, 413, "payload_too_large")


def _raising_app(exc: Exception) -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    return app


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (errors.Unauthorized("no"), 401, "unauthorized"),
        (errors.Forbidden("no"), 403, "forbidden"),
        (errors.NotFound("no"), 404, "not_found"),
        (errors.Conflict("no"), 409, "conflict"),
        (errors.MediaTooLarge("no"), 413, "media_too_large"),
        (errors.CorruptMedia("no"), 422, "corrupt_media"),
        (errors.InvalidHash("no"), 422, "invalid_hash"),
        (errors.InvalidInput("no"), 422, "invalid_input"),
        (errors.ScanTimeout("no"), 503, "timeout"),
        (errors.ModelUnavailable("no"), 503, "model_unavailable"),
        (errors.ConfigError("no"), 500, "config_invalid"),
    ],
)
def test_each_error_class(exc: Exception, status: int, code: str) -> None:
    with TestClient(_raising_app(exc)) as c:
        body = assert_problem(c.get("/boom"), status, code)
    assert body["detail"] == "no"
    if status == 401:
        assert c.get("/boom").headers["www-authenticate"] == 'Bearer realm="jikimi"'


def test_unexpected_exception_is_a_500_problem_without_internals() -> None:
    app = _raising_app(RuntimeError("secret internals /etc/passwd"))
    with TestClient(app, raise_server_exceptions=False) as c:
        body = assert_problem(c.get("/boom"), 500, "internal_error")
    assert "secret" not in body["detail"]


def test_timeout_is_a_503_problem_and_fast_requests_pass() -> None:
    import anyio

    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await anyio.sleep(5)
        return {"late": "yes"}

    @app.get("/fast")
    async def fast() -> dict[str, str]:
        return {"ok": "yes"}

    wrapped = TimeoutMiddleware(app, seconds=0.2, exempt=lambda scope: False)
    with TestClient(wrapped) as c:  # type: ignore[arg-type]
        assert_problem(c.get("/slow"), 503, "timeout")
        assert c.get("/fast").json() == {"ok": "yes"}


def test_settings_timeout_reaches_the_app(sqlite_settings: Settings) -> None:
    from jikimi.api.app import create_app

    app = create_app(sqlite_settings.model_copy(update={"request_timeout_s": 0.01}))
    assert any(
        m.cls is TimeoutMiddleware and m.kwargs["seconds"] == 0.01 for m in app.user_middleware
    )

"""``POST /v1/scan`` under a poisoned request: the others in its batch still get 200.

Concurrent requests are held behind a first, gated one so that they queue up
and run as ONE batch (the batcher records its batches); one of them is
poisoned. The poison is injected at each layer a batch passes through: the
grade model (inside the pipeline), the storing of Verdicts (ScanService), and
the backend as a whole (a bug around the pipeline: the batcher's own guard).
Real extreme-aspect PNGs (which once crashed the grade letterbox) ride along
and must be graded. Every good request must get the same Verdict as when it
is sent alone.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from api_helpers import SAMPLES, World, assert_problem, jpeg
from PIL import Image
from sqlalchemy.orm import Session

from jikimi.api.scanning import MAX_BATCH, ScanBatcher
from jikimi.detectors.grade.model import GradeDetector
from jikimi.domain import Principal, Region, Verdict
from jikimi.media import Picture
from jikimi.pipeline import Item
from jikimi.services import scans as scans_module
from jikimi.store import scans as scan_repo

POISON = "poison.png"


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height)).save(buf, "PNG")
    return buf.getvalue()


def uploads() -> list[tuple[str, bytes]]:
    """Four good uploads, two real extreme-aspect PNGs, and the poison (a 40 x 30 PNG):
    seven, one batch (at most eight)."""
    good = [(f"good-{n}.jpg", jpeg(500 + n)) for n in range(2)]
    good += [("rocket.jpg", (SAMPLES / "rocket.jpg").read_bytes())]
    good += [("coffee.jpg", (SAMPLES / "coffee.jpg").read_bytes())]
    extreme = [("tall-1x1281.png", png(1, 1281)), ("wide-2000x2.png", png(2000, 2))]
    return [*good[:2], (POISON, png(40, 30)), *extreme, *good[2:]]


def without_id(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "id"}


def post_in_one_batch(
    world: World, monkeypatch: pytest.MonkeyPatch, files: Sequence[tuple[str, bytes]]
) -> tuple[list[httpx.Response], list[int]]:
    """POST every file at once; they run as one batch behind a gated first request."""
    assert len(files) <= MAX_BATCH
    batcher: ScanBatcher = world.client.app.state.context.batcher  # type: ignore[attr-defined]
    monkeypatch.setattr(batcher, "max_inflight", 1)
    backend = batcher.backend
    real: Callable[[Principal, Sequence[Item]], list[Verdict]] = backend.scan_many
    gate = threading.Event()
    sizes: list[int] = []

    def gated(principal: Principal, items: Sequence[Item]) -> list[Verdict]:
        sizes.append(len(items))
        if len(sizes) == 1:
            assert gate.wait(60)
        return real(principal, items)

    monkeypatch.setattr(backend, "scan_many", gated)
    headers = world.a.headers()

    def post(name: str, data: bytes) -> httpx.Response:
        return world.client.post("/v1/scan", files={"file": (name, data)}, headers=headers)

    with ThreadPoolExecutor(len(files) + 1) as pool:
        first = pool.submit(post, "first.jpg", jpeg(499))
        _wait_for(lambda: len(sizes) == 1)
        futures = [pool.submit(post, name, data) for name, data in files]
        _wait_for(lambda: len(batcher._queue) == len(files))
        gate.set()
        assert first.result().status_code == 200
        responses = [f.result() for f in futures]
    monkeypatch.setattr(backend, "scan_many", real)
    return responses, sizes


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def assert_others_fine(
    world: World, files: Sequence[tuple[str, bytes]], responses: Sequence[httpx.Response]
) -> None:
    headers = world.a.headers()
    for (name, data), r in zip(files, responses, strict=True):
        if name == POISON:
            continue
        assert r.status_code == 200, (name, r.text)
        body = r.json()
        assert body["source"] == {"filename": name} and body["grade"] is not None
        stored = world.client.get(f"/v1/scans/{body['id']}", headers=headers)
        assert stored.status_code == 200 and stored.json() == body
        alone = world.client.post("/v1/scan", files={"file": (name, data)}, headers=headers)
        assert alone.status_code == 200 and without_id(alone.json()) == without_id(body)


def test_a_grade_model_error_fails_only_its_request(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = GradeDetector.detect

    def detect(self: GradeDetector, pictures: Sequence[Picture]) -> list[tuple[Region, ...]]:
        if any((p.media.width, p.media.height) == (40, 30) for p in pictures):
            raise RuntimeError("model bug on this picture")
        return real(self, pictures)

    monkeypatch.setattr(GradeDetector, "detect", detect)
    files = uploads()
    responses, sizes = post_in_one_batch(world, monkeypatch, files)
    assert sizes == [1, len(files)]  # one batch, answered without a second try
    poisoned = responses[[n for n, _ in files].index(POISON)]
    body = assert_problem(poisoned, 500, "internal_error")
    assert "model bug" not in body["detail"]
    assert_others_fine(world, files, responses)


def test_a_verdict_that_cannot_be_stored_fails_only_its_request(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = scan_repo.save_scan

    def save_scan(s: Session, tenant_id: str, verdict: Verdict, *rest: Any) -> Any:
        if verdict.source.get("filename") == POISON:
            raise ValueError("the database refuses this row")
        return real(s, tenant_id, verdict, *rest)

    monkeypatch.setattr(scans_module.scan_repo, "save_scan", save_scan)
    files = uploads()
    responses, sizes = post_in_one_batch(world, monkeypatch, files)
    assert sizes == [1, len(files)]
    assert_problem(responses[[n for n, _ in files].index(POISON)], 500, "internal_error")
    assert_others_fine(world, files, responses)


def test_a_backend_that_raises_for_a_batch_is_retried_one_request_at_a_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = world.client.app.state.context.batcher.backend  # type: ignore[attr-defined]
    real = backend.scan_many

    def scan_many(principal: Principal, items: Sequence[Item]) -> list[Verdict]:
        if any(i.source.get("filename") == POISON for i in items):
            raise RuntimeError("a bug around the pipeline")
        result: list[Verdict] = real(principal, items)
        return result

    monkeypatch.setattr(backend, "scan_many", scan_many)
    # The poison's exception reaches the problem handler (a logged 500), not this test.
    monkeypatch.setattr(world.client._transport, "raise_server_exceptions", False)
    files = uploads()
    responses, sizes = post_in_one_batch(world, monkeypatch, files)
    assert sizes[:2] == [1, len(files)] and sizes[2:] == [1] * len(files)
    assert_problem(responses[[n for n, _ in files].index(POISON)], 500, "internal_error")
    assert_others_fine(world, files, responses)

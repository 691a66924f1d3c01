"""Large videos through the API: 202 + a job to poll, then the Verdict; size limits per kind."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import av
import numpy as np
import pytest
from api_helpers import TestClient, World, assert_problem, bearer, jpeg, make_side
from PIL import Image

from jikimi.api.app import create_app
from jikimi.api.scanning import LazyScanner
from jikimi.config import Settings
from jikimi.domain import Role
from jikimi.services import TenantService
from jikimi.store import Store

FPS, SECONDS = 10, 3


def video(noise: bool = False, width: int = 96, height: int = 64) -> bytes:
    """A small H.264 MP4; ``noise`` makes it compress badly (a bigger file)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width]
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(SECONDS * FPS):
            if noise:
                frame = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
            else:
                red = ((xx + 3 * i) % 32 < 16) * 200
                frame = np.dstack([red, yy * 3 % 255, np.full_like(xx, i * 17 % 255)])
            picture = av.VideoFrame.from_ndarray(frame.astype(np.uint8), format="rgb24")
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return buf.getvalue()


def noise_jpeg(side: int = 256) -> bytes:
    """A JPEG of random pixels: about 60 kB at 256 x 256."""
    pixels = np.random.default_rng(1).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def clip() -> bytes:
    return video()


@pytest.fixture
def jobs_world(settings: Settings, shared_scanner: LazyScanner) -> Iterator[World]:
    """Two tenants on each backend; every video of 1 KiB or more becomes a job."""
    settings = settings.model_copy(update={"async_scan_min_bytes": 1024})
    with TestClient(create_app(settings, scanner=shared_scanner)) as client:
        store = Store.from_settings(settings)
        try:
            a = make_side(client, store, "acme", "A_BANK", seed=1)
            b = make_side(client, store, "bravo", "B_BANK", seed=2)
            yield World(client=client, store=store, settings=settings, a=a, b=b)
        finally:
            store.close()


def _poll(client: TestClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    """The job once final (waiting is bounded; nothing here asserts on speed)."""
    deadline = time.monotonic() + 120
    while True:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        job: dict[str, Any] = r.json()
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        assert r.headers["retry-after"] == "2"
        time.sleep(0.05)


def test_a_large_video_is_a_job_polled_to_its_verdict(jobs_world: World, clip: bytes) -> None:
    c, a = jobs_world.client, jobs_world.a
    r = c.post("/v1/scan", files={"file": ("clip.mp4", clip)}, headers=a.headers())
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert r.headers["location"] == f"/v1/jobs/{accepted['id']}"
    assert accepted["id"].startswith("job_") and accepted["state"] == "queued"
    assert accepted["source"] == {"filename": "clip.mp4"} and accepted["bytes"] == len(clip)
    assert accepted["progress"] == {"done": 0, "total": None}
    assert accepted["verdict"] is None and accepted["error"] is None

    job = _poll(c, r.headers["location"], a.headers())
    assert job["state"] == "done" and job["finished_at"] is not None and job["error"] is None
    assert job["progress"] == {"done": FPS * SECONDS, "total": FPS * SECONDS}
    verdict = job["verdict"]
    assert verdict["schema"] == "jikimi.verdict/1" and verdict["error"] is None
    assert verdict["media"]["kind"] == "video" and verdict["source"] == {"filename": "clip.mp4"}
    assert {s["type"] for s in verdict["signals"]} == {"vpdq", "md5", "sha256"}
    stored = c.get(f"/v1/scans/{verdict['id']}", headers=a.headers())
    assert stored.status_code == 200 and stored.json()["id"] == verdict["id"]


def test_another_tenants_job_is_not_found(jobs_world: World, clip: bytes) -> None:
    c, a, b = jobs_world.client, jobs_world.a, jobs_world.b
    r = c.post("/v1/scan", files={"file": ("clip.mp4", clip)}, headers=a.headers())
    url = r.headers["location"]
    assert_problem(c.get(url, headers=b.headers()), 404, "not_found")
    assert_problem(c.get("/v1/jobs/job_nope", headers=a.headers()), 404, "not_found")
    assert _poll(c, url, a.headers())["state"] == "done"
    assert_problem(c.get(url, headers=b.headers()), 404, "not_found")


def test_explicit_async_decides_either_way(jobs_world: World, clip: bytes) -> None:
    c, a = jobs_world.client, jobs_world.a
    r = c.post("/v1/scan?async=true", files={"file": ("x.jpg", a.image)}, headers=a.headers())
    assert r.status_code == 202, r.text
    job = _poll(c, r.headers["location"], a.headers())
    assert job["state"] == "done" and job["verdict"]["media"]["kind"] == "image"
    assert [m["bank"] for m in job["verdict"]["matches"]] == [a.bank]  # the caller's banks
    assert job["progress"] == {"done": 1, "total": 1}

    r = c.post("/v1/scan?async=false", files={"file": ("clip.mp4", clip)}, headers=a.headers())
    assert r.status_code == 200, r.text
    assert r.json()["schema"] == "jikimi.verdict/1" and r.json()["media"]["kind"] == "video"


def test_small_videos_and_images_are_scanned_in_the_request(
    sqlite_world: World, clip: bytes
) -> None:
    c, h = sqlite_world.client, sqlite_world.a.headers()
    assert len(clip) < sqlite_world.settings.async_scan_min_bytes
    r = c.post("/v1/scan", files={"file": ("clip.mp4", clip)}, headers=h)
    assert r.status_code == 200 and r.json()["media"]["kind"] == "video"
    r = c.post("/v1/scan", files={"file": ("x.jpg", jpeg(5))}, headers=h)
    assert r.status_code == 200 and r.json()["media"]["kind"] == "image"


def test_a_corrupt_video_job_fails_with_the_media_error(jobs_world: World, clip: bytes) -> None:
    c, a = jobs_world.client, jobs_world.a
    cut = clip[: len(clip) // 2]
    r = c.post("/v1/scan", files={"file": ("cut.mp4", cut)}, headers=a.headers())
    assert r.status_code == 202, r.text
    job = _poll(c, r.headers["location"], a.headers())
    assert job["state"] == "failed" and job["verdict"] is None and job["attempts"] == 1
    assert job["error"]["code"] == "corrupt_media" and job["error"]["message"]


def test_async_for_something_that_is_not_media_fails_at_once(jobs_world: World) -> None:
    c, h = jobs_world.client, jobs_world.a.headers()
    pdf = b"%PDF-1.7\n" + b"x" * 2000
    r = c.post("/v1/scan?async=true", files={"file": ("a.pdf", pdf)}, headers=h)
    assert_problem(r, 422, "unsupported_media")


def test_roles_without_scan_cannot_submit_jobs(jobs_world: World, clip: bytes) -> None:
    c, a = jobs_world.client, jobs_world.a
    r = c.post("/v1/scan", files={"file": ("clip.mp4", clip)}, headers=a.headers(Role.CASEWORKER))
    assert_problem(r, 403, "forbidden")


@pytest.fixture
def video_limits(
    sqlite_settings: Settings, shared_scanner: LazyScanner
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """Images up to 30,000 bytes, videos up to 150,000."""
    limits = {"max_bytes": 30_000, "max_upload_bytes": 30_000, "video_max_bytes": 150_000}
    settings = sqlite_settings.model_copy(update=limits)
    store = Store.from_settings(settings)
    _, key = TenantService(store).create("tiny")
    store.close()
    with TestClient(create_app(settings, scanner=shared_scanner)) as client:
        yield client, bearer(key.secret)


def test_videos_may_be_larger_than_images(
    video_limits: tuple[TestClient, dict[str, str]],
) -> None:
    c, h = video_limits
    big_video = video(noise=True)
    assert 30_000 < len(big_video) <= 150_000
    r = c.post("/v1/scan", files={"file": ("big.mp4", big_video)}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["media"]["kind"] == "video"

    big_image = noise_jpeg()
    assert 30_000 < len(big_image) <= 150_000
    r = c.post("/v1/scan", files={"file": ("big.jpg", big_image)}, headers=h)
    body = assert_problem(r, 413, "media_too_large")
    assert "30,000 bytes for images" in body["detail"]

    too_big = video(noise=True, width=128, height=80)
    assert 150_000 < len(too_big) < 150_000 + 64 * 1024  # under the body limit
    r = c.post("/v1/scan", files={"file": ("big.mp4", too_big)}, headers=h)
    assert_problem(r, 413, "media_too_large")


def _gif(frames: int) -> bytes:
    rng = np.random.default_rng(frames)
    images = [
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(frames)
    ]
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=frames > 1, append_images=images[1:], duration=100)
    return out.getvalue()


def test_animated_gifs_are_jobs_like_videos_and_still_ones_are_not(jobs_world: World) -> None:
    c, h = jobs_world.client, jobs_world.a.headers()
    animated, still = _gif(5), _gif(1)
    assert min(len(animated), len(still)) >= jobs_world.settings.async_scan_min_bytes
    r = c.post("/v1/scan", files={"file": ("a.gif", animated)}, headers=h)
    assert r.status_code == 202, r.text
    assert _poll(c, r.headers["location"], h)["verdict"]["media"]["frames"] == 5
    r = c.post("/v1/scan", files={"file": ("s.gif", still)}, headers=h)
    assert r.status_code == 200 and r.json()["media"]["kind"] == "image"

"""JobService: a queued video scan runs once to a stored Verdict, across restarts.

"Restarts" are two services on one database: the first stops (or dies, which
is what a lapsed lease records) and the second finishes the job. Runners are
driven with ``run_once()`` so every step is deterministic; one test runs the
background thread end to end.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image
from service_helpers import Side

from jikimi.api.scanning import LazyScanner
from jikimi.config import Settings
from jikimi.domain import Job, JobState, MediaKind, Principal, Role
from jikimi.errors import EmptyMedia, Forbidden, NotFound
from jikimi.pipeline import INTERNAL_ERROR, Matcher
from jikimi.pipeline.video import VideoScanner
from jikimi.services._common import now
from jikimi.services.jobs import INTERRUPTED, MEDIA_MISSING, JobService
from jikimi.services.matching import MatchService
from jikimi.services.scans import ScanService
from jikimi.store import Store
from jikimi.store import jobs as job_repo
from jikimi.store import scans as scan_repo

FPS, SECONDS = 10, 3


def video(seconds: int = SECONDS, width: int = 96, height: int = 64) -> bytes:
    """A small H.264 MP4 whose frames all differ (moving stripes)."""
    yy, xx = np.mgrid[0:height, 0:width]
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(seconds * FPS):
            red = ((xx + 3 * i) % 32 < 16) * 200
            frame = np.dstack([red, (yy * (1 + i % 5)) % 255, np.full_like(xx, i * 17 % 255)])
            picture = av.VideoFrame.from_ndarray(frame.astype(np.uint8), format="rgb24")
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return buf.getvalue()


@pytest.fixture(scope="module")
def scanner() -> LazyScanner:
    """One model load for the module."""
    return LazyScanner(Settings())


@pytest.fixture(scope="module")
def clip() -> bytes:
    return video()


def _jobs(
    store: Store,
    settings: Settings,
    scanner: LazyScanner,
    owner: str,
    matcher_for: Callable[[Principal], Matcher | None] = lambda p: None,
) -> JobService:
    return JobService(store, ScanService(store, scanner, matcher_for), settings, owner=owner)


def _raw(store: Store, job_id: str) -> Job:
    with store.session() as s, s.begin():
        job = job_repo.get_job_any(s, job_id)
    assert job is not None
    return job


def _scan_count(store: Store, tenant_id: str) -> int:
    with store.session() as s, s.begin():
        return scan_repo.count_scans(s, [tenant_id])


def test_a_video_job_runs_to_done_with_a_verdict(
    store: Store, settings: Settings, scanner: LazyScanner, clip: bytes, acme: Side
) -> None:
    jobs = _jobs(store, settings, scanner, "runner")
    platform = acme.as_[Role.PLATFORM]
    job = jobs.submit(platform, clip, {"filename": "clip.mp4"})
    assert job.state is JobState.QUEUED and job.size_bytes == len(clip)
    assert jobs.blobs.exists(job.blob_sha256)

    assert jobs.run_once() is True
    assert jobs.run_once() is False  # nothing left

    done = jobs.get(platform, job.id)
    assert done.state is JobState.DONE and done.attempts == 1 and done.error is None
    assert done.verdict is not None and done.verdict.id == done.scan_id
    assert done.verdict.error is None and done.verdict.source == {"filename": "clip.mp4"}
    assert done.verdict.media is not None and done.verdict.media.kind is MediaKind.VIDEO
    assert (done.progress_done, done.progress_total) == (FPS * SECONDS, FPS * SECONDS)
    assert done.finished_at is not None
    assert jobs.scans.get(platform, done.scan_id or "") == done.verdict  # a stored scan
    assert not jobs.blobs.exists(job.blob_sha256)  # the upload is gone once scanned


def test_a_queued_job_survives_a_restart_and_completes_once(
    store: Store, settings: Settings, scanner: LazyScanner, clip: bytes, acme: Side
) -> None:
    first = _jobs(store, settings, scanner, "before-restart")
    job = first.submit(acme.as_[Role.PLATFORM], clip, {"filename": "clip.mp4"})
    first.close()  # stopped before it ran anything
    assert first.run_once() is False  # a closed runner claims nothing

    second = _jobs(store, settings, scanner, "after-restart")
    assert second.run_once() is True
    assert second.run_once() is False
    done = _raw(store, job.id)
    assert done.state is JobState.DONE and done.attempts == 1
    assert _scan_count(store, acme.tenant.id) == 1


def test_a_job_interrupted_by_shutdown_is_given_back_and_finished_elsewhere(
    store: Store, settings: Settings, scanner: LazyScanner, clip: bytes, acme: Side
) -> None:
    def stop_first(principal: Principal) -> None:
        first.close()  # the shutdown arrives as the scan starts

    first = _jobs(store, settings, scanner, "shutting-down", matcher_for=stop_first)
    job = first.submit(acme.as_[Role.PLATFORM], clip, {"filename": "clip.mp4"})
    assert first.run_once() is True
    back = _raw(store, job.id)
    assert back.state is JobState.QUEUED and back.attempts == 0  # not the video's fault
    assert _scan_count(store, acme.tenant.id) == 0  # nothing stored by the cut-short run

    second = _jobs(store, settings, scanner, "after-restart")
    assert second.run_once() is True
    assert _raw(store, job.id).state is JobState.DONE
    assert _scan_count(store, acme.tenant.id) == 1


def test_a_job_whose_runner_died_is_recovered_and_completed_once(
    store: Store, settings: Settings, scanner: LazyScanner, clip: bytes, acme: Side
) -> None:
    jobs = _jobs(store, settings, scanner, "survivor")
    job = jobs.submit(acme.as_[Role.PLATFORM], clip, {"filename": "clip.mp4"})
    t = now()
    with store.session(write=True) as s, s.begin():  # a runner claims it, then dies:
        assert job_repo.claim_next(s, "dead", t, t - timedelta(seconds=1)) is not None

    assert jobs.run_once() is True  # recovers the lapsed lease, runs the job
    done = _raw(store, job.id)
    assert done.state is JobState.DONE and done.attempts == 2
    with store.session(write=True) as s, s.begin():  # the dead runner can't finish it again
        assert not job_repo.finish_done(s, job.id, "dead", "scn_ghost", now())
    assert _raw(store, job.id).scan_id == done.scan_id
    assert _scan_count(store, acme.tenant.id) == 1


_DOOMED_RUNNER = """
import time
from jikimi.api.scanning import LazyScanner
from jikimi.config import load_settings
from jikimi.services.jobs import JobService
from jikimi.services.scans import ScanService
from jikimi.store import Store

def hang(principal):  # the scan has started and hangs, as on a video that hangs the decoder
    print("scanning", flush=True)
    time.sleep(3600)

settings = load_settings()
store = Store.from_settings(settings)
JobService(store, ScanService(store, LazyScanner(settings), hang), settings).run_once()
"""


def test_a_job_whose_process_is_killed_mid_scan_runs_again_elsewhere(
    store: Store, settings: Settings, scanner: LazyScanner, clip: bytes, acme: Side
) -> None:
    short = settings.model_copy(update={"job_lease_s": 1.0})
    survivor = _jobs(store, short, scanner, "survivor")
    job = survivor.submit(acme.as_[Role.PLATFORM], clip, {"filename": "clip.mp4"})
    env = {
        **os.environ,
        "JIKIMI_DATA_DIR": str(settings.data_dir),
        "JIKIMI_DATABASE_URL": settings.database_url,
        "JIKIMI_JOB_LEASE_S": "1",
    }
    with subprocess.Popen(
        [sys.executable, "-c", _DOOMED_RUNNER], env=env, stdout=subprocess.PIPE, text=True
    ) as doomed:
        try:
            assert doomed.stdout is not None and doomed.stdout.readline() == "scanning\n"
            running = _raw(store, job.id)
            assert running.state is JobState.RUNNING and running.attempts == 1
        finally:
            doomed.kill()  # SIGKILL: no shutdown, no release

    deadline = time.monotonic() + 60  # the lease lapses within a second
    while not survivor.run_once() and time.monotonic() < deadline:
        time.sleep(0.1)
    done = _raw(store, job.id)
    assert done.state is JobState.DONE and done.attempts == 2
    assert _scan_count(store, acme.tenant.id) == 1


def test_a_video_that_keeps_killing_its_runner_fails(
    store: Store, settings: Settings, scanner: LazyScanner, clip: bytes, acme: Side
) -> None:
    jobs = _jobs(store, settings, scanner, "survivor")
    job = jobs.submit(acme.as_[Role.PLATFORM], clip, {"filename": "clip.mp4"})
    exhausted = jobs._exhausted()
    for attempt in range(settings.job_max_attempts):  # each run dies mid-scan
        t = now()
        with store.session(write=True) as s, s.begin():
            job_repo.recover_expired(s, t, settings.job_max_attempts, exhausted)
            assert job_repo.claim_next(s, f"dead-{attempt}", t, t - timedelta(seconds=1))

    assert jobs.run_once() is False  # nothing to run: the job failed for good
    failed = jobs.get(acme.as_[Role.PLATFORM], job.id)
    assert failed.state is JobState.FAILED and failed.attempts == settings.job_max_attempts
    assert failed.error is not None and failed.error.code == INTERRUPTED
    assert "3 times" in failed.error.message and failed.verdict is None
    assert not jobs.blobs.exists(job.blob_sha256)


def test_a_corrupt_video_fails_at_once_with_the_media_error(
    store: Store, settings: Settings, scanner: LazyScanner, clip: bytes, acme: Side
) -> None:
    jobs = _jobs(store, settings, scanner, "runner")
    job = jobs.submit(acme.as_[Role.PLATFORM], clip[: len(clip) // 2], {"filename": "cut.mp4"})
    assert jobs.run_once() is True
    failed = jobs.get(acme.as_[Role.PLATFORM], job.id)
    assert failed.state is JobState.FAILED and failed.attempts == 1  # no retry: same answer
    assert failed.error is not None and failed.error.code == "corrupt_media"
    assert failed.scan_id is None and failed.verdict is None
    assert _scan_count(store, acme.tenant.id) == 0


def test_a_transient_error_is_retried_later(
    store: Store, settings: Settings, scanner: LazyScanner, clip: bytes, acme: Side
) -> None:
    # The real matching service, never started: its indexes are "still loading".
    loading = MatchService(store, settings.model_copy(update={"match_ready_wait_s": 0.0}))
    jobs = _jobs(store, settings, scanner, "runner", matcher_for=loading.matcher_for)
    job = jobs.submit(acme.as_[Role.PLATFORM], clip, {"filename": "clip.mp4"})
    assert jobs.run_once() is True
    waiting = _raw(store, job.id)
    assert waiting.state is JobState.QUEUED and waiting.attempts == 1 and waiting.error is None
    assert jobs.run_once() is False  # backing off: not claimable yet
    assert jobs.blobs.exists(job.blob_sha256)  # kept for the retry


def test_a_lost_lease_means_the_job_is_not_finished_by_the_loser(
    store: Store, settings: Settings, scanner: LazyScanner, clip: bytes, acme: Side
) -> None:
    def taken_over(principal: Principal) -> None:
        later = now() + timedelta(seconds=settings.job_lease_s * 2)
        with store.session(write=True) as s, s.begin():  # the lease lapses; another claims
            job_repo.recover_expired(s, later, 3, slow._exhausted())
            job_repo.claim_next(s, "fast", later, later + timedelta(minutes=5))

    slow = _jobs(store, settings, scanner, "slow", matcher_for=taken_over)
    job = slow.submit(acme.as_[Role.PLATFORM], clip, {"filename": "clip.mp4"})
    assert slow.run_once() is True
    still = _raw(store, job.id)
    assert still.state is JobState.RUNNING and still.attempts == 2  # the other runner's now
    assert _scan_count(store, acme.tenant.id) == 0  # the loser stopped before storing
    assert slow.blobs.exists(job.blob_sha256)  # the other runner still needs it


def test_jobs_are_per_tenant_and_need_the_right_roles(
    store: Store, settings: Settings, scanner: LazyScanner, clip: bytes, acme: Side, bravo: Side
) -> None:
    jobs = _jobs(store, settings, scanner, "runner")
    job = jobs.submit(acme.as_[Role.PLATFORM], clip, {"filename": "clip.mp4"})
    assert jobs.get(acme.as_[Role.CASEWORKER], job.id).id == job.id  # reading needs scan_read
    with pytest.raises(NotFound):
        jobs.get(bravo.as_[Role.ADMIN], job.id)
    with pytest.raises(NotFound):
        jobs.get(acme.as_[Role.ADMIN], "job_nope")
    with pytest.raises(Forbidden):
        jobs.submit(acme.as_[Role.CASEWORKER], clip, {})
    with pytest.raises(EmptyMedia):
        jobs.submit(acme.as_[Role.PLATFORM], b"", {})
    jobs.run_once()
    assert jobs.get(acme.as_[Role.PLATFORM], job.id).verdict is not None
    with pytest.raises(NotFound):
        jobs.get(bravo.as_[Role.PLATFORM], job.id)


def test_same_bytes_twice_keep_their_blob_until_both_are_done(
    store: Store, settings: Settings, scanner: LazyScanner, clip: bytes, acme: Side
) -> None:
    jobs = _jobs(store, settings, scanner, "runner")
    a = jobs.submit(acme.as_[Role.PLATFORM], clip, {"filename": "a.mp4"})
    b = jobs.submit(acme.as_[Role.PLATFORM], clip, {"filename": "b.mp4"})
    assert a.blob_sha256 == b.blob_sha256
    assert jobs.run_once() is True
    assert jobs.blobs.exists(a.blob_sha256)  # b still needs it
    assert jobs.run_once() is True
    assert not jobs.blobs.exists(a.blob_sha256)
    assert {_raw(store, j.id).state for j in (a, b)} == {JobState.DONE}


def test_the_background_runner_finishes_a_submitted_job(
    store: Store, settings: Settings, scanner: LazyScanner, clip: bytes, acme: Side
) -> None:
    jobs = _jobs(store, settings, scanner, "thread")
    jobs.start()
    try:
        job = jobs.submit(acme.as_[Role.PLATFORM], clip, {"filename": "clip.mp4"})
        deadline = time.monotonic() + 120  # a bound on waiting, not an assertion on speed
        while _raw(store, job.id).state is not JobState.DONE and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        jobs.close()
    assert _raw(store, job.id).state is JobState.DONE


def test_a_job_whose_upload_is_missing_is_retried_then_fails(
    store: Store, settings: Settings, scanner: LazyScanner, clip: bytes, acme: Side
) -> None:
    jobs = _jobs(store, settings, scanner, "runner")
    job = jobs.submit(acme.as_[Role.PLATFORM], clip, {"filename": "clip.mp4"})
    jobs.blobs.delete(job.blob_sha256)  # e.g. a process with another data directory
    assert jobs.run_once() is True
    retried = _raw(store, job.id)
    assert retried.state is JobState.QUEUED and retried.attempts == 1

    last_try = _jobs(store, settings.model_copy(update={"job_max_attempts": 1}), scanner, "r2")
    after_backoff = now() + timedelta(minutes=10)
    with store.session(write=True) as s, s.begin():  # skip the back-off
        assert job_repo.claim_next(s, "r2", after_backoff, after_backoff + timedelta(minutes=1))
        assert job_repo.release(s, job.id, "r2", now())
    assert last_try.run_once() is True
    failed = _raw(store, job.id)
    assert failed.state is JobState.FAILED and failed.error is not None
    assert failed.error.code == MEDIA_MISSING


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height)).save(buf, "PNG")
    return buf.getvalue()


def test_a_job_that_meets_a_bug_fails_once_and_the_other_jobs_complete(
    store: Store,
    settings: Settings,
    scanner: LazyScanner,
    clip: bytes,
    acme: Side,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An internal_error Verdict is a bug met while scanning these bytes: running the job
    again would meet it again, so it fails at once (not after job_max_attempts runs)."""
    real = VideoScanner._grade

    def grade(self: VideoScanner, frames: Sequence[Any]) -> Any:
        if any(f.picture.media.width == 80 for f in frames):
            raise RuntimeError("timeline bug")
        return real(self, frames)

    monkeypatch.setattr(VideoScanner, "_grade", grade)
    jobs = _jobs(store, settings, scanner, "runner")
    platform = acme.as_[Role.PLATFORM]
    submitted = [
        jobs.submit(platform, clip, {"filename": "clip.mp4"}),
        jobs.submit(platform, video(2, width=80, height=48), {"filename": "poison.mp4"}),
        jobs.submit(platform, _png(1, 1281), {"filename": "tall.png"}),  # the real poison, fixed
        jobs.submit(platform, video(2), {"filename": "other.mp4"}),
    ]
    with caplog.at_level(logging.WARNING):
        while jobs.run_once():
            pass
    good, poisoned, tall, other = (jobs.get(platform, j.id) for j in submitted)
    for job in (good, tall, other):
        assert job.state is JobState.DONE and job.attempts == 1, job.error
        assert job.verdict is not None and job.verdict.error is None
    assert tall.verdict is not None and tall.verdict.grade is not None
    assert poisoned.state is JobState.FAILED and poisoned.attempts == 1
    assert poisoned.error is not None and poisoned.error.code == INTERNAL_ERROR
    assert poisoned.verdict is None and not jobs.blobs.exists(submitted[1].blob_sha256)
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1 and "poison.mp4" in tracebacks[0].getMessage()


def test_an_unexpected_error_around_the_scan_is_retried(
    store: Store,
    settings: Settings,
    scanner: LazyScanner,
    acme: Side,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not the media's fault as far as we know (the database failing as the Verdict is
    stored, say): the job is queued again with back-off, like other transient errors."""

    def scan_many(*args: Any, **kwargs: Any) -> list[Any]:
        raise RuntimeError("database went away")

    jobs = _jobs(store, settings, scanner, "runner")
    monkeypatch.setattr(jobs.scans, "scan_many", scan_many)
    job = jobs.submit(acme.as_[Role.PLATFORM], _png(64, 48), {"filename": "x.png"})
    assert jobs.run_once() is True
    waiting = _raw(store, job.id)
    assert waiting.state is JobState.QUEUED and waiting.attempts == 1 and waiting.error is None

"""The jobs repository: exclusive claims, leases that lapse, finishing only by the holder."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from store_helpers import at, tenant_and_bank

from jikimi.domain import ErrorInfo, Job, JobState, Role
from jikimi.store import Store
from jikimi.store import jobs as repo
from jikimi.store import tenants as tenant_repo

SHA = "ab" * 32
LEASE = timedelta(seconds=60)
EXHAUSTED = ErrorInfo(code="scan_interrupted", message="never finished")


def _submit(store: Store, tenant_id: str, when: datetime | None = None, sha: str = SHA) -> Job:
    with store.session(write=True) as s, s.begin():
        return repo.create_job(
            s,
            tenant_id=tenant_id,
            role=Role.PLATFORM,
            source={"filename": "clip.mp4"},
            blob_sha256=sha,
            size_bytes=1234,
            at=when or at(),
        )


def _claim(store: Store, owner: str, when: datetime | None = None) -> Job | None:
    t = when or at()
    with store.session(write=True) as s, s.begin():
        return repo.claim_next(s, owner, t, t + LEASE)


def _get(store: Store, job_id: str) -> Job:
    with store.session() as s, s.begin():
        job = repo.get_job_any(s, job_id)
    assert job is not None
    return job


def test_create_and_get_are_per_tenant(store: Store) -> None:
    tenant, _ = tenant_and_bank(store)
    job = _submit(store, tenant.id)
    with store.session(write=True) as s, s.begin():
        other = tenant_repo.create_tenant(s, "other", at())
    with store.session() as s, s.begin():
        mine = repo.get_job(s, tenant.id, job.id)
        theirs = repo.get_job(s, other.id, job.id)
    assert mine == job and theirs is None
    assert job.id.startswith("job_") and job.state is JobState.QUEUED
    assert (job.role, job.source, job.size_bytes, job.attempts) == (
        Role.PLATFORM,
        {"filename": "clip.mp4"},
        1234,
        0,
    )


def test_claims_take_the_oldest_job_once(store: Store) -> None:
    tenant, _ = tenant_and_bank(store)
    t0 = at()
    older = _submit(store, tenant.id, t0 - timedelta(seconds=10))
    newer = _submit(store, tenant.id, t0)
    first, second = _claim(store, "runner-a"), _claim(store, "runner-b")
    assert first is not None and second is not None
    assert (first.id, second.id) == (older.id, newer.id)
    assert first.state is JobState.RUNNING and first.attempts == 1
    assert _claim(store, "runner-c") is None


def test_concurrent_claims_never_share_a_job(store: Store) -> None:
    tenant, _ = tenant_and_bank(store)
    submitted = {_submit(store, tenant.id).id for _ in range(6)}
    claimed: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def runner(name: str) -> None:
        barrier.wait()
        while (job := _claim(store, name)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=runner, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(submitted)  # every job once, none twice


def test_only_the_lease_holder_renews_and_finishes(store: Store) -> None:
    tenant, _ = tenant_and_bank(store)
    job = _submit(store, tenant.id)
    assert _claim(store, "holder") is not None
    t = at()
    with store.session(write=True) as s, s.begin():
        assert not repo.renew_lease(s, job.id, "intruder", t, t + LEASE, (5, 10))
        assert not repo.finish_done(s, job.id, "intruder", "scn_x", t)
        assert not repo.finish_failed(s, job.id, "intruder", EXHAUSTED, t)
        assert not repo.release(s, job.id, "intruder", t)
    assert _get(store, job.id).state is JobState.RUNNING
    with store.session(write=True) as s, s.begin():
        assert repo.renew_lease(s, job.id, "holder", t, t + LEASE, (5, 10))
    progressed = _get(store, job.id)
    assert (progressed.progress_done, progressed.progress_total) == (5, 10)
    with store.session(write=True) as s, s.begin():
        assert repo.finish_done(s, job.id, "holder", "scn_1", t, frames=12)
        assert not repo.finish_done(s, job.id, "holder", "scn_2", t)  # once
    done = _get(store, job.id)
    assert done.state is JobState.DONE and done.scan_id == "scn_1"
    assert (done.progress_done, done.progress_total) == (12, 12)
    assert done.finished_at is not None and done.error is None


def test_failed_jobs_keep_their_error(store: Store) -> None:
    tenant, _ = tenant_and_bank(store)
    job = _submit(store, tenant.id)
    _claim(store, "holder")
    error = ErrorInfo(code="corrupt_media", message="truncated")
    with store.session(write=True) as s, s.begin():
        assert repo.finish_failed(s, job.id, "holder", error, at())
    failed = _get(store, job.id)
    assert failed.state is JobState.FAILED and failed.error == error and failed.scan_id is None


def test_lapsed_leases_are_requeued_then_failed_when_attempts_run_out(store: Store) -> None:
    tenant, _ = tenant_and_bank(store)
    job = _submit(store, tenant.id)
    t1 = at()
    assert _claim(store, "dies-1", t1) is not None
    with store.session() as s, s.begin():
        assert not repo.has_work(s, t1 + LEASE / 2)  # the lease still holds
        assert repo.has_work(s, t1 + LEASE * 2)
    t2 = t1 + LEASE * 2  # the runner died: its lease lapsed
    with store.session(write=True) as s, s.begin():
        assert repo.recover_expired(s, t2, 2, EXHAUSTED) == ([job.id], [])
        assert not repo.finish_done(s, job.id, "dies-1", "scn_late", t2)  # too late
    requeued = _get(store, job.id)
    assert requeued.state is JobState.QUEUED and requeued.attempts == 1

    second = _claim(store, "dies-2", t2)
    assert second is not None and second.attempts == 2
    t3 = t2 + LEASE * 2
    with store.session(write=True) as s, s.begin():
        assert repo.recover_expired(s, t3, 2, EXHAUSTED) == ([], [(job.id, SHA)])
    failed = _get(store, job.id)
    assert failed.state is JobState.FAILED and failed.error == EXHAUSTED
    assert failed.attempts == 2 and failed.finished_at is not None


def test_a_lapsed_holder_loses_to_the_next_claim(store: Store) -> None:
    tenant, _ = tenant_and_bank(store)
    job = _submit(store, tenant.id)
    t = at()
    _claim(store, "slow", t)
    later = t + LEASE * 2
    with store.session(write=True) as s, s.begin():
        repo.recover_expired(s, later, 3, EXHAUSTED)
    again = _claim(store, "fast", later)
    assert again is not None and again.id == job.id and again.attempts == 2
    with store.session(write=True) as s, s.begin():
        assert not repo.renew_lease(s, job.id, "slow", later, later + LEASE)
        assert not repo.finish_done(s, job.id, "slow", "scn_slow", later)
        assert repo.finish_done(s, job.id, "fast", "scn_fast", later)
    assert _get(store, job.id).scan_id == "scn_fast"


def test_release_waits_for_not_before_and_can_refund_the_attempt(store: Store) -> None:
    tenant, _ = tenant_and_bank(store)
    job = _submit(store, tenant.id)
    t = at()
    _claim(store, "holder", t)
    with store.session(write=True) as s, s.begin():
        assert repo.release(s, job.id, "holder", t, not_before=t + timedelta(seconds=30))
    assert _claim(store, "other", t + timedelta(seconds=10)) is None
    retried = _claim(store, "other", t + timedelta(seconds=31))
    assert retried is not None and retried.attempts == 2
    with store.session(write=True) as s, s.begin():
        assert repo.release(s, job.id, "other", t, refund_attempt=True)
    assert _get(store, job.id).attempts == 1


def test_a_blob_is_in_use_while_another_unfinished_job_has_it(store: Store) -> None:
    tenant, _ = tenant_and_bank(store)
    first = _submit(store, tenant.id)
    second = _submit(store, tenant.id)
    lone = _submit(store, tenant.id, sha="cd" * 32)
    with store.session(write=True) as s, s.begin():
        repo.lock_blob(s, SHA)
        assert repo.blob_in_use(s, SHA, first.id)
        assert not repo.blob_in_use(s, lone.blob_sha256, lone.id)
    _claim(store, "holder")  # the oldest: first
    with store.session(write=True) as s, s.begin():
        assert repo.finish_failed(s, first.id, "holder", EXHAUSTED, at())
        assert not repo.blob_in_use(s, SHA, second.id)  # first is final now

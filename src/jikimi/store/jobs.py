"""Repository of scan jobs: durable, leased, finished exactly once.

A job row says who submitted which upload (its bytes wait in the blob store)
and how far its scan got. Runners in any number of processes share the table::

    create_job ─► queued ──claim_next──► running ──finish_done──► done
                    ▲                      │  │
                    │   release (retry,    │  └────finish_failed──► failed
                    └── shutdown) ─────────┘
                    ▲                      │ lease lapsed (process died)
                    └──── recover_expired ─┤ ... unless attempts are used up:
                                           └──────────────────────► failed

Each transition is one conditional ``UPDATE`` whose ``WHERE`` names the state
(and, once running, the lease owner) it expects, and whose row count says
whether it happened. So two runners never both claim a job, and a runner whose
lease lapsed (another took the job over) can neither renew nor finish it: the
job completes once. On PostgreSQL the claim also skips rows another claim has
locked (``FOR UPDATE SKIP LOCKED``) instead of queueing behind it; on SQLite
write transactions are serial anyway (``BEGIN IMMEDIATE``).

For a queued job ``lease_until`` is the earliest time it may be claimed (a
retry's back-off); ``None`` means at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jikimi.domain import ErrorInfo, Job, JobState, Role
from jikimi.ids import new_id
from jikimi.store.models import JobRow

_QUEUED, _RUNNING = JobState.QUEUED.value, JobState.RUNNING.value
_UNFINISHED = (_QUEUED, _RUNNING)
_CLAIM_TRIES = 5
"""Candidates a claim tries before giving up (each lost only to a concurrent claim)."""
_BLOB_LOCK_BASE = 0x6A6B626C00000000  # "jkbl" + 32 bits of the SHA-256: see lock_blob


def _job(row: JobRow) -> Job:
    return Job(
        id=row.id,
        tenant_id=row.tenant_id,
        role=Role(row.role),
        state=JobState(row.state),
        source=row.source,
        blob_sha256=row.blob_sha256,
        size_bytes=row.size_bytes,
        progress_done=row.progress_done,
        progress_total=row.progress_total,
        attempts=row.attempts,
        scan_id=row.scan_id,
        error=None if row.error is None else ErrorInfo.model_validate(row.error),
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )


def _changed(s: Session, stmt: sa.Update) -> int:
    """Run an UPDATE; the number of rows it changed."""
    result = s.execute(stmt.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0))


def _held(job_id: str, owner: str) -> sa.ColumnElement[bool]:
    """The job is running under ``owner``'s lease (whether or not it has lapsed)."""
    return sa.and_(JobRow.id == job_id, JobRow.state == _RUNNING, JobRow.lease_owner == owner)


# --- submit and read ------------------------------------------------------------------


def create_job(
    s: Session,
    *,
    tenant_id: str,
    role: Role,
    source: dict[str, Any],
    blob_sha256: str,
    size_bytes: int,
    at: datetime,
) -> Job:
    """A queued job for an upload already in the blob store."""
    row = JobRow(
        id=new_id("job"),
        tenant_id=tenant_id,
        role=role.value,
        state=_QUEUED,
        source=source,
        blob_sha256=blob_sha256,
        size_bytes=size_bytes,
        progress_done=0,
        progress_total=0,
        attempts=0,
        lease_owner=None,
        lease_until=None,
        scan_id=None,
        error=None,
        created_at=at,
        updated_at=at,
        finished_at=None,
    )
    s.add(row)
    s.flush()
    return _job(row)


def get_job(s: Session, tenant_id: str, job_id: str) -> Job | None:
    """The tenant's job; ``None`` if there is none (or it is another tenant's)."""
    row = s.get(JobRow, job_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    return _job(row)


def get_job_any(s: Session, job_id: str) -> Job | None:
    """A job whatever its tenant (for runners and tests, never for a caller)."""
    row = s.get(JobRow, job_id)
    return None if row is None else _job(row)


# --- runners ----------------------------------------------------------------------


def has_work(s: Session, at: datetime) -> bool:
    """Is a job claimable or a lease lapsed? (A cheap read before a write transaction.)"""
    ready = sa.and_(
        JobRow.state == _QUEUED, sa.or_(JobRow.lease_until.is_(None), JobRow.lease_until <= at)
    )
    lapsed = sa.and_(JobRow.state == _RUNNING, JobRow.lease_until < at)
    stmt = sa.select(JobRow.id).where(sa.or_(ready, lapsed)).limit(1)
    return s.scalar(stmt) is not None


def recover_expired(
    s: Session, at: datetime, max_attempts: int, exhausted: ErrorInfo
) -> tuple[list[str], list[tuple[str, str]]]:
    """Jobs whose runner stopped renewing its lease: queue them again, or fail them.

    A job that has already been started ``max_attempts`` times fails with
    ``exhausted`` (a video that crashes the process must not crash every process
    in turn). Returns the ids of the jobs queued again, and the (id, blob SHA-256)
    of those that failed (their uploads can go).
    """
    lapsed = sa.and_(JobRow.state == _RUNNING, JobRow.lease_until < at)
    failed = s.execute(
        sa.update(JobRow)
        .where(lapsed, JobRow.attempts >= max_attempts)
        .values(
            state=JobState.FAILED.value,
            lease_owner=None,
            lease_until=None,
            error=exhausted.model_dump(),
            updated_at=at,
            finished_at=at,
        )
        .returning(JobRow.id, JobRow.blob_sha256)
        .execution_options(synchronize_session=False)
    ).all()
    requeued = s.scalars(
        sa.update(JobRow)
        .where(lapsed, JobRow.attempts < max_attempts)
        .values(state=_QUEUED, lease_owner=None, lease_until=None, updated_at=at)
        .returning(JobRow.id)
        .execution_options(synchronize_session=False)
    ).all()
    return list(requeued), [(job_id, sha256) for job_id, sha256 in failed]


def claim_next(s: Session, owner: str, at: datetime, lease_until: datetime) -> Job | None:
    """Take the oldest claimable job under a lease held by ``owner``; ``None`` if none.

    The claim counts as an attempt and resets the progress (a new run starts
    from the first frame).
    """
    candidates = (
        sa.select(JobRow.id)
        .where(
            JobRow.state == _QUEUED,
            sa.or_(JobRow.lease_until.is_(None), JobRow.lease_until <= at),
        )
        .order_by(JobRow.created_at, JobRow.id)
        .limit(1)
    )
    if s.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    for _ in range(_CLAIM_TRIES):
        job_id = s.scalar(candidates)
        if job_id is None:
            return None
        claimed = _changed(
            s,
            sa.update(JobRow)
            .where(JobRow.id == job_id, JobRow.state == _QUEUED)
            .values(
                state=_RUNNING,
                lease_owner=owner,
                lease_until=lease_until,
                attempts=JobRow.attempts + 1,
                progress_done=0,
                progress_total=0,
                updated_at=at,
            ),
        )
        if claimed:
            row = s.get(JobRow, job_id, populate_existing=True)  # re-read after the UPDATE
            return None if row is None else _job(row)
    return None


def renew_lease(
    s: Session,
    job_id: str,
    owner: str,
    at: datetime,
    lease_until: datetime,
    progress: tuple[int, int] | None = None,
) -> bool:
    """Extend ``owner``'s lease (and record progress: frames done, total).

    ``False`` when ``owner`` no longer holds the job: its lease lapsed and the
    job was recovered or claimed by another runner. The caller should stop.
    """
    values: dict[str, Any] = {"lease_until": lease_until, "updated_at": at}
    if progress is not None:
        values["progress_done"], values["progress_total"] = progress
    return _changed(s, sa.update(JobRow).where(_held(job_id, owner)).values(**values)) == 1


def finish_done(
    s: Session, job_id: str, owner: str, scan_id: str, at: datetime, frames: int | None = None
) -> bool:
    """The job is done, its Verdict stored as ``scan_id``; ``False`` unless ``owner`` held it.

    ``frames``: the item's frame count, so the progress ends at ``frames`` of ``frames``
    (the last progress report may not have been written yet).
    """
    total: Any = JobRow.progress_total if frames is None else frames
    stmt = (
        sa.update(JobRow)
        .where(_held(job_id, owner))
        .values(
            state=JobState.DONE.value,
            scan_id=scan_id,
            progress_done=total,
            progress_total=total,
            lease_owner=None,
            lease_until=None,
            updated_at=at,
            finished_at=at,
        )
    )
    return _changed(s, stmt) == 1


def finish_failed(s: Session, job_id: str, owner: str, error: ErrorInfo, at: datetime) -> bool:
    """The job failed for good with ``error``; ``False`` unless ``owner`` held it."""
    stmt = (
        sa.update(JobRow)
        .where(_held(job_id, owner))
        .values(
            state=JobState.FAILED.value,
            error=error.model_dump(),
            lease_owner=None,
            lease_until=None,
            updated_at=at,
            finished_at=at,
        )
    )
    return _changed(s, stmt) == 1


def release(
    s: Session,
    job_id: str,
    owner: str,
    at: datetime,
    *,
    not_before: datetime | None = None,
    refund_attempt: bool = False,
) -> bool:
    """Give a held job back to the queue (claimable from ``not_before``).

    ``refund_attempt``: the run was stopped by us (shutdown), not by the video,
    so it does not count towards the attempts.
    """
    values: dict[str, Any] = {
        "state": _QUEUED,
        "lease_owner": None,
        "lease_until": not_before,
        "updated_at": at,
    }
    if refund_attempt:
        values["attempts"] = sa.case((JobRow.attempts > 0, JobRow.attempts - 1), else_=0)
    return _changed(s, sa.update(JobRow).where(_held(job_id, owner)).values(**values)) == 1


# --- the uploads' blobs ---------------------------------------------------------------


def lock_blob(s: Session, sha256: str) -> None:
    """Serialise, until commit, the transactions that add or drop a job's blob.

    A finished job deletes its upload unless another unfinished job has the same
    bytes (same SHA-256); a new job for those bytes must not slip in between
    that check and the deletion. SQLite write transactions are serial already.
    """
    if s.get_bind().dialect.name == "postgresql":
        key = _BLOB_LOCK_BASE | int(sha256[:8], 16)
        s.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def blob_in_use(s: Session, sha256: str, except_job: str) -> bool:
    """Does an unfinished job other than ``except_job`` need the blob ``sha256``?"""
    stmt = (
        sa.select(JobRow.id)
        .where(
            JobRow.blob_sha256 == sha256,
            JobRow.id != except_job,
            JobRow.state.in_(_UNFINISHED),
        )
        .limit(1)
    )
    return s.scalar(stmt) is not None

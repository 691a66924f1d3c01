"""Scan jobs: large videos are scanned in the background, durably.

A ten-minute video takes longer to scan than an HTTP request may last, and a
moderator must not lose an accepted upload because a process restarted. So
such uploads become jobs::

    JobService.submit(principal, bytes, source)       (POST /v1/scan: 202 + job id)
        bytes ─► blob store, scope jobs (ab/cd/<sha256>)  then the row: queued
    runner (a thread in every API process; any process may run any job)
        recover lapsed leases ─► claim the oldest queued job (lease: job_lease_s)
        ─► ScanService.scan_many(job's tenant and role, bytes, progress)
             └─ lease keeper thread: progress every ≥ 0.5 s, lease every job_lease_s / 3
        ─► done (scan id) │ failed (error) │ queued again (transient error, back-off)
        ─► a final job's upload is deleted (unless another queued job has the same bytes)
    JobService.get(principal, job_id)                 (GET /v1/jobs/{id})
        ─► state, progress (frames), and the stored Verdict once done

What a restart does
    Queued jobs wait in the database. :meth:`JobService.close` interrupts the
    running scan at its next progress report and puts the job back without
    counting the attempt. A process that dies holds its job until the lease
    lapses (at most ``job_lease_s``); then any runner recovers and re-runs it.

When a job fails for good
    Media errors (corrupt, unsupported, too long...) fail at once: another run
    would give the same answer. So does an ``internal_error`` Verdict: the
    pipeline met a bug while scanning this video (it logged the traceback), and
    a bug in the scan of the same bytes is deterministic, so running it again
    would only repeat the traceback. Transient errors (model unavailable, bank
    indexes not ready, the upload missing here, an unexpected exception around
    the scan, such as the database failing while the Verdict is stored) are
    retried with back-off. A job fails after ``job_max_attempts`` runs, and a
    run cut short by a dying process counts: a video that crashes the decoder
    fails with ``scan_interrupted`` rather than crashing every process in turn.

Once, not twice
    Only the lease holder can finish a job (see :mod:`jikimi.store.jobs`), and a
    runner that lost its lease is stopped at its next progress report, or at
    the last frame at the latest. The Verdict is stored in the same transaction
    that marks the job done (``ScanService.scan_many(..., also=...)``): if the
    lease was lost meanwhile, both roll back; if the process dies, neither
    happened and the job runs again. So a job completes once, with one stored scan.

Every process that runs jobs must reach the same blob store (the uploads wait
there): the data directory of one box, or an S3-compatible bucket shared by
replicas on many (``blob_store``). The uploads of jobs live apart from evidence
(the ``jobs`` scope), so deleting them never touches a bank's evidence.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any

from sqlalchemy.orm import Session

from jikimi.config import Settings
from jikimi.domain import ErrorInfo, Job, JobState, Permission, Principal, Verdict
from jikimi.errors import EmptyMedia, IndexNotReady, JikimiError, ModelUnavailable, NotFound
from jikimi.pipeline import Item
from jikimi.services._common import now, require, runner_id
from jikimi.services.scans import ScanService
from jikimi.store import Store
from jikimi.store import jobs as repo

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5
"""Progress is written at most this often (a running job's row, not every frame)."""
CLOSE_WAIT_S = 30.0
"""How long :meth:`JobService.close` waits for the running scan to stop."""
RETRY_BACKOFF_S = 5.0
"""First retry after a transient error; doubles with each attempt, at most 5 minutes."""
MAX_BACKOFF_S = 300.0

INTERRUPTED = "scan_interrupted"
"""Error code of a job whose runs all stopped short (their process died)."""
MEDIA_MISSING = "media_missing"
"""Error code of a job whose upload is not in this process's blob store."""
TRANSIENT_CODES = frozenset({ModelUnavailable.code, IndexNotReady.code, MEDIA_MISSING})
"""Error codes that say nothing about the video: the job is tried again.

Not ``internal_error``: in a Verdict it is a bug met while scanning this video,
which the next run would meet again. An unexpected exception raised around the
scan (storing the Verdict, say) is retried all the same (see ``JobService._run``).
"""


class _Interrupted(Exception):
    """:meth:`JobService.close` was called: stop this run and give the job back."""


class _LeaseLost(Exception):
    """Another runner has the job now: stop, keep nothing."""


class JobService:
    """Submit and read scan jobs; run them in a background thread (see the module)."""

    def __init__(
        self, store: Store, scans: ScanService, settings: Settings, *, owner: str | None = None
    ) -> None:
        self.store = store
        self.scans = scans
        self.settings = settings
        self.owner = owner or runner_id()
        self.blobs = store.blobs.scoped("jobs")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- callers --------------------------------------------------------------

    def submit(self, principal: Principal, data: bytes, source: Mapping[str, Any]) -> Job:
        """Queue a scan of ``data`` for the caller; it runs with the caller's tenant and role.

        The bytes are stored before the row, so a job never exists without them.
        """
        require(principal, Permission.SCAN)
        if not data:
            raise EmptyMedia("The file is empty (0 bytes).")
        sha256 = self.blobs.put(data)
        with self.store.session(write=True) as s, s.begin():
            repo.lock_blob(s, sha256)
            job = repo.create_job(
                s,
                tenant_id=principal.tenant_id,
                role=principal.role,
                source=dict(source),
                blob_sha256=sha256,
                size_bytes=len(data),
                at=now(),
            )
        if not self.blobs.exists(sha256):
            # A job with the same bytes finished and deleted them between put() and
            # our commit (lock_blob orders the two): store them again.
            self.blobs.put(data)
        self._wake.set()
        return job

    def get(self, principal: Principal, job_id: str) -> Job:
        """A job of the caller's tenant, with its Verdict once done; others' are NotFound."""
        require(principal, Permission.SCAN_READ)
        with self.store.session() as s, s.begin():
            job = repo.get_job(s, principal.tenant_id, job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        if job.state is JobState.DONE and job.scan_id is not None:
            job = job.model_copy(update={"verdict": self.scans.get(principal, job.scan_id)})
        return job

    # --- the runner ------------------------------------------------------------

    def start(self) -> None:
        """Run jobs in a background thread until :meth:`close`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="jikimi-jobs", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop claiming; interrupt the running scan and give its job back."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(CLOSE_WAIT_S)
            if thread.is_alive():
                log.warning("a scan job is still running; its lease will lapse and it will re-run")

    def run_once(self) -> bool:
        """Recover lapsed leases, then claim and run one job; ``False`` if none was ready."""
        if self._stop.is_set():
            return False
        with self.store.session() as s, s.begin():
            if not repo.has_work(s, now()):
                return False
        with self.store.session(write=True) as s, s.begin():
            at = now()
            requeued, failed = repo.recover_expired(
                s, at, self.settings.job_max_attempts, self._exhausted()
            )
            job = repo.claim_next(s, self.owner, at, at + self._lease())
        if requeued:
            log.warning("scan jobs whose runner stopped are queued again: %s", requeued)
        for job_id, sha256 in failed:
            log.error("scan job %s failed: every run of it was cut short", job_id)
            self._drop_blob(job_id, sha256)
        if job is None:
            return False
        self._run(job)
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("the scan job runner failed; trying again")
                busy = False
            if not busy:
                self._wake.wait(self.settings.job_poll_s)
                self._wake.clear()

    def _run(self, job: Job) -> None:
        try:
            data = self.blobs.read(job.blob_sha256)
        except NotFound:
            message = (
                "The upload of this job is not in the blob store of the process that ran it "
                "(every process running jobs must reach the same blob store)."
            )
            # Retried (another process may have it) until the attempts run out.
            self._failed_run(job, ErrorInfo(code=MEDIA_MISSING, message=message))
            return
        # The job acts for its submitter's tenant and role; the key itself is not kept.
        principal = Principal(tenant_id=job.tenant_id, key_id=job.id, role=job.role)
        outcome: Verdict | BaseException
        with _LeaseKeeper(self, job.id) as keeper:

            def finish(s: Session, verdicts: Sequence[Verdict]) -> None:
                """Inside the transaction that stores the Verdict: done, or nothing is."""
                media = verdicts[0].media
                frames = media.frames if media is not None else keeper.total
                if not repo.finish_done(s, job.id, self.owner, verdicts[0].id, now(), frames):
                    raise _LeaseLost

            try:
                outcome = self.scans.scan_many(
                    principal, [Item(data, job.source)], keeper.progress, also=finish
                )[0]
            except Exception as exc:
                outcome = exc
        if isinstance(outcome, _Interrupted):
            with self.store.session(write=True) as s, s.begin():
                repo.release(s, job.id, self.owner, now(), refund_attempt=True)
            log.info("scan job %s interrupted by shutdown; queued again", job.id)
        elif isinstance(outcome, _LeaseLost):
            log.warning("scan job %s was taken over by another runner; result dropped", job.id)
        elif isinstance(outcome, BaseException):
            log.error("scan job %s failed unexpectedly", job.id, exc_info=outcome)
            error = _error_of(outcome)
            transient = not isinstance(outcome, JikimiError) or error.code in TRANSIENT_CODES
            self._failed_run(job, error, transient=transient)
        elif outcome.error is None:  # stored and finished together (see finish)
            self._drop_blob(job.id, job.blob_sha256)
        else:
            self._failed_run(job, outcome.error)

    # --- outcomes ---------------------------------------------------------------

    def _fail(self, job: Job, error: ErrorInfo) -> None:
        with self.store.session(write=True) as s, s.begin():
            finished = repo.finish_failed(s, job.id, self.owner, error, now())
        if finished:
            self._drop_blob(job.id, job.blob_sha256)

    def _failed_run(self, job: Job, error: ErrorInfo, *, transient: bool | None = None) -> None:
        """Try a transient failure again later (attempts left); any other fails the job.

        ``transient``: whether it is; by default, whether its code is in
        :data:`TRANSIENT_CODES`.
        """
        if transient is None:
            transient = error.code in TRANSIENT_CODES
        if not transient or job.attempts >= self.settings.job_max_attempts:
            self._fail(job, error)
            return
        delay = min(MAX_BACKOFF_S, RETRY_BACKOFF_S * 2 ** (job.attempts - 1))
        at = now()
        with self.store.session(write=True) as s, s.begin():
            repo.release(s, job.id, self.owner, at, not_before=at + timedelta(seconds=delay))
        log.warning("scan job %s: %s; trying again in %.0f s", job.id, error.code, delay)

    def _drop_blob(self, job_id: str, sha256: str) -> None:
        """Delete a final job's upload unless an unfinished job has the same bytes."""
        try:
            with self.store.session(write=True) as s, s.begin():
                repo.lock_blob(s, sha256)
                if not repo.blob_in_use(s, sha256, job_id):
                    self.blobs.delete(sha256)  # under the lock: see JobService.submit
        except Exception:
            log.exception("could not delete the upload of scan job %s", job_id)

    # --- leases -----------------------------------------------------------------

    def _lease(self) -> timedelta:
        return timedelta(seconds=self.settings.job_lease_s)

    def _renew(self, job_id: str, progress: tuple[int, int] | None) -> bool:
        at = now()
        with self.store.session(write=True) as s, s.begin():
            return repo.renew_lease(s, job_id, self.owner, at, at + self._lease(), progress)

    def _exhausted(self) -> ErrorInfo:
        n = self.settings.job_max_attempts
        return ErrorInfo(
            code=INTERRUPTED,
            message=f"The scan was started {n} time{'s' if n > 1 else ''} and never finished: "
            "the process running it stopped each time (this video may crash the scanner).",
        )


class _LeaseKeeper:
    """Writes a running job's progress and renews its lease, off the scanning thread.

    The scan calls :meth:`progress` (cheap: it only notes the numbers); this
    thread writes them at most every :data:`PROGRESS_EVERY_S` and renews the
    lease every third of it, also while the scan reports nothing. The progress
    call is also where the scan is stopped: on shutdown, or when the lease was
    lost to another runner (checked at once on the last frame, before the
    Verdict is stored).
    """

    def __init__(self, service: JobService, job_id: str) -> None:
        self._service = service
        self._job_id = job_id
        self._latest: tuple[int, int] | None = None
        self._lost = False
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="jikimi-job-lease", daemon=True)

    @property
    def total(self) -> int | None:
        return None if self._latest is None else self._latest[1]

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finished.set()
        self._thread.join()

    def progress(self, source: Mapping[str, Any], done: int, total: int) -> None:
        self._latest = (done, total)
        last = done >= total > 0
        if last and not self._lost:
            # Check the lease now, before the Verdict is stored: a runner that lost
            # the job must not store a second scan of it.
            try:
                self._lost = not self._service._renew(self._job_id, self._latest)
            except Exception:
                log.exception("could not renew the lease of scan job %s", self._job_id)
        if self._lost:
            raise _LeaseLost
        if self._service._stop.is_set() and not last:  # nearly done: let it finish
            raise _Interrupted

    def _loop(self) -> None:
        renew_every = self._service.settings.job_lease_s / 3
        renewed = time.monotonic()
        written: tuple[int, int] | None = None
        while not self._finished.wait(min(PROGRESS_EVERY_S, renew_every)):
            latest = self._latest
            if latest == written and time.monotonic() - renewed < renew_every:
                continue
            try:
                held = self._service._renew(self._job_id, latest)
            except Exception:  # the database is away: try again next tick
                log.exception("could not renew the lease of scan job %s", self._job_id)
                continue
            renewed, written = time.monotonic(), latest
            if not held:
                self._lost = True
                return


def _error_of(exc: BaseException) -> ErrorInfo:
    if isinstance(exc, JikimiError):
        return ErrorInfo(code=exc.code, message=exc.message)
    return ErrorInfo(
        code=JikimiError.code, message="The scan failed unexpectedly (see the server log)."
    )

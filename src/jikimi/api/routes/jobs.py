"""``GET /v1/jobs/{job_id}``: how far a background scan (a large video) has got.

``POST /v1/scan`` answers ``202`` with this same body and ``Location:
/v1/jobs/{id}`` when it queues a job; the caller polls here until ``state`` is
``done`` (``verdict`` holds the Verdict v1, also at ``/v1/scans/{verdict.id}``)
or ``failed`` (``error`` holds a stable ``code`` and a message, as in a
Verdict's error).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from jikimi.api.deps import ContextDep, PrincipalDep
from jikimi.api.problems import error_responses
from jikimi.domain import ErrorInfo, Job, JobState, Verdict

router = APIRouter(prefix="/v1", tags=["scan"])

POLL_AFTER_S = 2
"""``Retry-After`` of an unfinished job: a fair polling interval for a video scan."""


class JobProgress(BaseModel):
    model_config = ConfigDict(frozen=True)

    done: int = Field(description="Frames of the video decoded so far.")
    total: int | None = Field(description="Frames in the video; null until it is opened.")


class JobPublic(BaseModel):
    """A scan job as its submitter sees it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(examples=["job_01JD3W6Q9V2C8Y5T0N4K7M1B6E"])
    state: JobState = Field(description="queued, running, done or failed.")
    source: dict[str, Any] = Field(description="Where the upload came from (as in the Verdict).")
    bytes: int = Field(description="Size of the upload.")
    progress: JobProgress
    attempts: int = Field(description="Runs started so far (a job is retried after a crash).")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    verdict: Verdict | None = Field(description="The Verdict v1, once done.")
    error: ErrorInfo | None = Field(description="Why it failed (stable code and a message).")

    @classmethod
    def of(cls, job: Job) -> JobPublic:
        return cls(
            id=job.id,
            state=job.state,
            source=job.source,
            bytes=job.size_bytes,
            progress=JobProgress(done=job.progress_done, total=job.progress_total or None),
            attempts=job.attempts,
            created_at=job.created_at,
            updated_at=job.updated_at,
            finished_at=job.finished_at,
            verdict=job.verdict,
            error=job.error,
        )

    def response(self, status: int = 200) -> JSONResponse:
        """The JSON response (Verdict keys as in the contract), with polling headers."""
        headers = {} if self.state in _FINAL else {"Retry-After": str(POLL_AFTER_S)}
        if status == 202:
            headers["Location"] = f"/v1/jobs/{self.id}"
        body = self.model_dump(mode="json", by_alias=True)
        return JSONResponse(body, status_code=status, headers=headers)


_FINAL = frozenset({JobState.DONE, JobState.FAILED})


@router.get(
    "/jobs/{job_id}",
    response_model=JobPublic,
    summary="A scan job: its state, progress, and Verdict once done",
    responses=error_responses(401, 403, 404),
)
def get_job(job_id: str, context: ContextDep, principal: PrincipalDep) -> JSONResponse:
    return JobPublic.of(context.jobs.get(principal, job_id)).response()

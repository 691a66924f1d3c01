"""Scan jobs: a batch scanned in the background, its state and its progress."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from jikimi.domain.base import Frozen
from jikimi.domain.tenancy import Role
from jikimi.domain.verdict import ErrorInfo, Verdict


class JobState(StrEnum):
    """Where a scan job is (see :mod:`jikimi.services.jobs` for the lifecycle)."""

    QUEUED = "queued"  # waiting for a runner (again, after a retry or a restart)
    RUNNING = "running"  # a runner holds its lease and is scanning
    DONE = "done"  # final: the Verdict is stored under ``scan_id``
    FAILED = "failed"  # final: ``error`` says why


class Job(Frozen):
    """A durable scan of one upload (a large video), done in the background.

    ``progress_done``/``progress_total`` count the video's frames decoded so far
    (``total`` is 0 until the runner has opened the video). ``verdict`` is filled
    by ``JobService.get`` once the job is done (the stored scan, later matches
    included); the store leaves it ``None``.
    """

    id: str
    tenant_id: str
    role: Role = Field(description="The submitter's role: the job scans with its rights.")
    state: JobState
    source: dict[str, Any]
    blob_sha256: str
    size_bytes: int
    progress_done: int = 0
    progress_total: int = 0
    attempts: int = Field(default=0, description="Runs started (a run cut short counts).")
    scan_id: str | None = None
    error: ErrorInfo | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    verdict: Verdict | None = None

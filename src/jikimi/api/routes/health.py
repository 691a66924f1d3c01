"""``/healthz`` (the process answers) and ``/readyz`` (it can do its job).

Orchestrators restart a process whose liveness fails and route traffic only to
ready ones, so the two answer different questions: ``/healthz`` never touches
the database; ``/readyz`` checks that the database answers, the matching
indexes are loaded and the blob store takes blobs (a folder it can write in, a
bucket that answers: a replica that cannot keep uploads is not ready), and says
which check failed, and for the blob store why, in its 503 problem when not.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from jikimi.api.deps import ContextDep
from jikimi.api.problems import ApiProblem, error_responses
from jikimi.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Readiness: database reachable, indexes loaded, blob store usable",
    responses=error_responses(503),
)
def readyz(context: ContextDep) -> Health:
    blobs_problem = _blobs_problem(context)
    checks = {
        "database": _database_ok(context),
        "index": context.matching.ready,
        "blobs": blobs_problem is None,
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        why = f" ({context.store.blobs.location}: {blobs_problem})" if blobs_problem else ""
        raise ApiProblem(503, "not_ready", f"not ready: {', '.join(failed)}{why}")
    return Health(status="ok", checks=checks)


def _blobs_problem(context: ContextDep) -> str | None:
    """Why the blob store cannot take blobs now (the error's kind, never a secret)."""
    try:
        context.store.blobs.check()
    except Exception as exc:  # OSError, botocore's errors: any of them means not ready
        return type(exc).__name__
    return None


def _database_ok(context: ContextDep) -> bool:
    try:
        with context.store.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return False
    return True

"""``/healthz`` (the process answers) and ``/readyz`` (it can do its job).

Orchestrators restart a process whose liveness fails and route traffic only to
ready ones, so the two answer different questions: ``/healthz`` never touches
the database; ``/readyz`` checks that the database answers and the matching
indexes are loaded, and says which check failed (503 problem) when not.
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
    summary="Readiness: database reachable and indexes loaded",
    responses=error_responses(503),
)
def readyz(context: ContextDep) -> Health:
    checks = {"database": _database_ok(context), "index": context.matching.ready}
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise ApiProblem(503, "not_ready", f"not ready: {', '.join(failed)}")
    return Health(status="ok", checks=checks)


def _database_ok(context: ContextDep) -> bool:
    try:
        with context.store.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return False
    return True

"""``/metrics``: Prometheus text exposition of this process's counters."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from jikimi.api.deps import ContextDep

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (requests by route and status, scans by grade and action)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(context: ContextDep) -> Response:
    return Response(context.metrics.render(), media_type=CONTENT_TYPE_LATEST)

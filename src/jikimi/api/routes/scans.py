"""``GET /v1/scans/{scan_id}``: a stored Verdict, with matches found after the scan."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from jikimi.api.deps import PrincipalDep, ScansDep
from jikimi.api.problems import error_responses
from jikimi.domain import Verdict

router = APIRouter(prefix="/v1", tags=["scan"])


@router.get(
    "/scans/{scan_id}",
    response_model=Verdict,
    summary="A stored scan's Verdict (retroactive matches included)",
    responses=error_responses(401, 403, 404),
)
def get_scan(scan_id: str, principal: PrincipalDep, scans: ScansDep) -> JSONResponse:
    return JSONResponse(scans.get(principal, scan_id).to_json_dict())

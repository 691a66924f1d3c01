"""``POST /v1/match``: hashes in, bank matches out (no media, no stored scan).

For platforms that hash on their side: up to 1,000 hashes per request, each
validated by the schema (a bad one is a 422 naming its index).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jikimi.api.deps import ContextDep, MatchingDep, PrincipalDep
from jikimi.api.problems import error_responses
from jikimi.api.schemas import MatchRequest, MatchResponse
from jikimi.domain import Signal

router = APIRouter(prefix="/v1", tags=["match"])


@router.post(
    "/match",
    response_model=MatchResponse,
    summary="Look hashes up in the banks visible to the caller (≤ 1,000 per request)",
    responses=error_responses(401, 403, 413, 422),
)
async def match(
    body: MatchRequest, principal: PrincipalDep, matching: MatchingDep, context: ContextDep
) -> JSONResponse:
    signals = [Signal.model_construct(type=h.type, value=h.value) for h in body.hashes]
    found = await run_in_threadpool(matching.match_hashes, principal, signals)
    if any(found):  # a hit on a removed item's banked hashes: a re-upload of it
        await run_in_threadpool(context.casework.reuploads.link_matches, found)
    context.metrics.hashes_matched.inc(len(signals))
    # Built as plain JSON (the shape of MatchResponse): re-validating up to 1,000
    # results we just made would cost more than the lookup itself.
    results = [
        {
            "type": s.type.value,
            "value": s.value,
            "matches": [m.model_dump(mode="json") for m in matches],
        }
        for s, matches in zip(signals, found, strict=True)
    ]
    return JSONResponse({"results": results})

"""``POST /v1/scan``: one upload (or URL) in, one Verdict v1 out.

The body is read only after the API key checks out; the file is capped at
``max_bytes`` while it is read; the scan runs in the threadpool so the event
loop keeps serving other requests. Media the pipeline cannot read comes back as
a problem carrying the Verdict's error code (``corrupt_media``, …).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jikimi.api import bodies
from jikimi.api.deps import ContextDep, PrincipalDep
from jikimi.api.problems import ApiProblem, error_responses, verdict_problem
from jikimi.api.schemas import ScanUrl
from jikimi.model import Verdict

router = APIRouter(prefix="/v1", tags=["scan"])

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            bodies.MULTIPART: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "url": {"type": "string", "description": "Instead of a file."},
                    },
                }
            },
            bodies.JSON: {"schema": ScanUrl.model_json_schema()},
        },
    }
}


@router.post(
    "/scan",
    response_model=Verdict,
    summary="Scan an image: grade, AI-generation evidence, bank matches, decision",
    description="Multipart `file` upload, or a `url` (JSON or form field) when the server "
    "enables URL fetching. Returns the Verdict JSON v1.",
    responses=error_responses(401, 403, 413, 422, 503),
    openapi_extra=_BODY,
)
async def scan(request: Request, context: ContextDep, principal: PrincipalDep) -> JSONResponse:
    data, source = await _media(request, context)
    verdict = await context.batcher.scan(principal, data, source)
    context.metrics.observe_scan(verdict)
    if verdict.error is not None:
        raise verdict_problem(verdict.error)
    return JSONResponse(verdict.to_json_dict())


async def _media(request: Request, context: ContextDep) -> tuple[bytes, dict[str, Any]]:
    """The bytes to scan and the Verdict ``source`` describing where they came from."""
    kind = bodies.content_type(request)
    if kind == bodies.JSON:
        url = (await bodies.json_body(request, ScanUrl)).url
    else:
        form = await bodies.read_form(request, context.settings.max_bytes)
        form.only({"url"})
        if form.file is not None:
            if "url" in form.fields:
                raise ApiProblem(422, "validation_error", "send either a file or a url, not both")
            return form.file.data, {"filename": form.file.filename}
        if "url" not in form.fields:
            raise ApiProblem(422, "validation_error", "send a multipart 'file' field (or a 'url')")
        url = ScanUrl.model_validate({"url": form.fields["url"]}).url
    data = await run_in_threadpool(context.fetcher.fetch, url)
    return data, {"url": url}

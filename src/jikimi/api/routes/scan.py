"""``POST /v1/scan``: one upload (or URL) in, one Verdict v1 out, or a job for a big video.

The body is read only after the API key checks out, and capped while it is
read: images at ``max_bytes``, videos at ``video_max_bytes`` (a clear 413
``media_too_large`` names the limit). Media that scan quickly are scanned
within the request, in the threadpool (batched with concurrent requests), so
the event loop keeps serving others; media the pipeline cannot read come back
as a problem carrying the Verdict's error code (``corrupt_media``, …).

A video (or an animated GIF/WebP) of at least ``async_scan_min_bytes`` would
outlast the request, so it becomes a durable job instead: ``202 Accepted``
with the job's JSON and ``Location: /v1/jobs/{id}`` to poll
(:mod:`jikimi.api.routes.jobs`). ``?async=true`` makes a job of any media,
``?async=false`` scans within the request whatever the size.

A platform may say who uploaded the file: ``?uploader=<its id of the account>`` (or
a multipart ``uploader`` field). The scan is then linked to that tenant's source of
that id, the policy's source conditions see the source's standing (e.g. hold
everything from an uploader with three confirmed items), and the Verdict's
``source`` carries ``uploader`` and ``source_id``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jikimi.api import bodies
from jikimi.api.deps import ContextDep, PrincipalDep
from jikimi.api.problems import ApiProblem, error_responses, verdict_problem
from jikimi.api.routes.jobs import JobPublic
from jikimi.api.schemas import ScanUrl
from jikimi.api.uploads import check_media_size, media_file_limit
from jikimi.config import Settings
from jikimi.domain import Uploader, Verdict, limits
from jikimi.errors import JikimiError
from jikimi.media import MediaLimits, Sniffed, sniff
from jikimi.pipeline.hashing import Route, classify, route_of
from jikimi.services.scans import UPLOADER, check_uploader

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
_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": JobPublic,
        "description": "Queued as a job (a large video, or ?async=true): poll the Location "
        "header (/v1/jobs/{id}) until its state is done or failed.",
    }
}

AsyncQuery = Annotated[
    bool | None,
    Query(
        alias="async",
        description="true: always answer 202 with a job; false: always scan within the "
        "request; absent: a job for videos of at least the server's async_scan_min_bytes.",
    ),
]
UploaderQuery = Annotated[
    Uploader | None,
    Query(
        description="The platform's id of the account that uploaded the file: links the "
        "scan to that source, whose standing the policy's source rules read.",
    ),
]


@router.post(
    "/scan",
    response_model=Verdict,
    summary="Scan an image or video: grade, AI-generation evidence, bank matches, decision",
    description="Multipart `file` upload, or a `url` (JSON or form field) when the server "
    "enables URL fetching. Returns the Verdict JSON v1, or 202 and a job for a large video.",
    responses={**_ACCEPTED, **error_responses(401, 403, 413, 422, 503)},
    openapi_extra=_BODY,
)
async def scan(
    request: Request,
    context: ContextDep,
    principal: PrincipalDep,
    run_async: AsyncQuery = None,
    uploader: UploaderQuery = None,
) -> JSONResponse:
    data, source = await _media(request, context)
    named = uploader if uploader is not None else source.pop(UPLOADER, None)
    if named is not None:
        try:
            source[UPLOADER] = check_uploader(str(named))
        except JikimiError as exc:
            raise ApiProblem(422, "validation_error", exc.message) from exc
    sniffed = sniff(data)
    check_media_size(len(data), sniffed, context.settings)
    if await _as_job(data, sniffed, context.settings, run_async):
        job = await run_in_threadpool(context.jobs.submit, principal, data, source)
        return JobPublic.of(job).response(202)
    verdict = await context.batcher.scan(principal, data, source)
    context.metrics.observe_scan(verdict)
    if verdict.error is not None:
        raise verdict_problem(verdict.error)
    return JSONResponse(verdict.to_json_dict())


async def _media(request: Request, context: ContextDep) -> tuple[bytes, dict[str, Any]]:
    """The bytes to scan and the Verdict ``source`` describing where they came from."""
    kind = bodies.content_type(request)
    extra: dict[str, str] = {}
    if kind == bodies.JSON:
        url = (await bodies.json_body(request, ScanUrl)).url
    else:
        settings = context.settings
        form = await bodies.read_form(request, media_file_limit(settings))
        form.only({"url", UPLOADER})
        if UPLOADER in form.fields:
            extra[UPLOADER] = form.fields[UPLOADER]
        if form.file is not None:
            if "url" in form.fields:
                raise ApiProblem(422, "validation_error", "send either a file or a url, not both")
            return form.file.data, {**form.file.source(), **extra}
        if "url" not in form.fields:
            raise ApiProblem(422, "validation_error", "send a multipart 'file' field (or a 'url')")
        url = limits.check("url", form.fields["url"])  # as the JSON body's schema checks it
    data = await run_in_threadpool(context.fetcher.fetch, url)
    return data, {"url": url, **extra}


async def _as_job(data: bytes, sniffed: Sniffed, settings: Settings, wanted: bool | None) -> bool:
    """Queue as a job? (Anything that is not media is scanned at once: it fails at once.)"""
    if sniffed.kind is None:
        return False
    if wanted is not None:
        return wanted
    if len(data) < settings.async_scan_min_bytes:
        return False
    route = route_of(sniffed)
    if route is None:  # a GIF or WebP: scanned as a video when it has several frames
        route = await run_in_threadpool(_decoded_route, data, sniffed, settings)
    return route is Route.VIDEO


def _decoded_route(data: bytes, sniffed: Sniffed, settings: Settings) -> Route:
    try:
        return classify(data, MediaLimits.from_settings(settings), sniffed).route
    except JikimiError:  # the scan itself will report what is wrong
        return Route.STILL

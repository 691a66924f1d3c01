"""RFC 9457 problem details: the one shape of every error the API returns.

Services raise the typed errors of :mod:`jikimi.errors`; this module is the only
place that turns them (and the framework's own 404/405/413/422) into HTTP. Every
body is ``application/problem+json`` with ``type``, ``title``, ``status``,
``detail`` and our stable snake_case ``code``; validation problems add
``errors`` (one per field, with its path) so a client can point at the bad input.

Unexpected exceptions become a 500 problem that says nothing about the internals;
the traceback goes to the log, never to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from jikimi import errors
from jikimi.domain import ErrorInfo

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:jikimi:problem:"
"""Problem ``type`` URIs are ``urn:jikimi:problem:<code>``: stable, not a web page."""

WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="jikimi"'}

# Most specific class first: the first isinstance match wins.
_STATUS_BY_ERROR: tuple[tuple[type[errors.JikimiError], int], ...] = (
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.MediaTooLarge, 413),
    (errors.MediaError, 422),
    (errors.InvalidInput, 422),
    (errors.TooManyAttempts, 429),
    (errors.ScanTimeout, 503),
    (errors.ModelUnavailable, 503),
    (errors.IndexNotReady, 503),
    (errors.Unavailable, 503),
)

_TITLES: Mapping[str, str] = {
    "unauthorized": "Missing or invalid API key",
    "forbidden": "Not allowed for this key's role",
    "not_found": "Not found",
    "conflict": "Conflicts with the current state",
    "import_file_mismatch": "Not the file of this import",
    "import_not_resumable": "Import cannot be resumed",
    "import_lease_lost": "Import taken over by another process",
    "invalid_input": "Invalid input",
    "invalid_hash": "Invalid hash",
    "validation_error": "Request validation failed",
    "media_too_large": "Upload too large",
    "payload_too_large": "Request body too large",
    "unsupported_media": "Unsupported media type",
    "corrupt_media": "Corrupt media",
    "empty_media": "Empty media",
    "timeout": "Request timed out",
    "model_unavailable": "Model unavailable",
    "method_not_allowed": "Method not allowed",
    "not_ready": "Service not ready",
    "url_fetch_disabled": "URL fetching is disabled",
    "url_fetch_failed": "URL could not be fetched",
    "url_not_allowed": "URL host not allowed",
    "internal_error": "Internal server error",
    "too_many_attempts": "Too many attempts",
}

# Framework HTTP errors (routing, body limits) get a code like our own errors.
_CODE_BY_STATUS: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    503: "not_ready",
}


class FieldProblem(BaseModel):
    """One invalid field: where it is (``body.hashes.3.value``) and what is wrong."""

    loc: str = Field(description="Dotted path of the field, e.g. 'body.hashes.3.value'.")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, plus jikimi's stable ``code``."""

    type: str = Field(description="URI naming the problem type: urn:jikimi:problem:<code>.")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable snake_case error code (also in Verdict errors).")
    errors: list[FieldProblem] | None = Field(
        default=None, description="Per-field problems (validation errors only)."
    )


class ApiProblem(StarletteHTTPException):
    """An HTTP-level problem raised by the doors themselves (not by a service).

    It subclasses Starlette's ``HTTPException`` so that FastAPI re-raises it as is
    even from inside body parsing (the body-size limit trips there).
    """

    def __init__(
        self, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=dict(headers or {}))
        self.code = code


def status_for(exc: errors.JikimiError) -> int:
    """The HTTP status of a jikimi error (500 for anything not a caller's fault)."""
    for cls, status in _STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


_STATUS_BY_VERDICT_CODE: Mapping[str, int] = {
    errors.MediaTooLarge.code: 413,
    errors.ScanTimeout.code: 503,
    errors.ModelUnavailable.code: 503,
    errors.IndexNotReady.code: 503,
    errors.ConfigError.code: 500,
    errors.JikimiError.code: 500,
}


def verdict_problem(error: ErrorInfo) -> ApiProblem:
    """The problem for a Verdict that carries an error (media we could not scan)."""
    return ApiProblem(_STATUS_BY_VERDICT_CODE.get(error.code, 422), error.code, error.message)


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    field_errors: Sequence[FieldProblem] | None = None,
) -> Problem:
    """Build the problem body (also used by middleware that cannot raise)."""
    title = _TITLES.get(code) or _phrase(status)
    return Problem(
        type=TYPE_PREFIX + code,
        title=title,
        status=status,
        detail=detail,
        code=code,
        errors=list(field_errors) if field_errors is not None else None,
    )


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    field_errors: Sequence[FieldProblem] | None = None,
) -> JSONResponse:
    """A ready ``application/problem+json`` response."""
    body = problem(status, code, detail, field_errors=field_errors)
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.update(WWW_AUTHENTICATE)
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        headers=all_headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the problems a route can return."""
    return {
        s: {
            "model": Problem,
            "description": _phrase(s),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in sorted(set(statuses))
    }


def install(app: FastAPI) -> None:
    """Register the handlers that make every error a problem."""
    app.add_exception_handler(errors.JikimiError, _jikimi_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _jikimi_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.JikimiError)
    status = status_for(exc)
    if status >= 500:
        log.error("request failed: %s %s: %s", request.method, request.url.path, exc.code)
    if isinstance(exc, errors.InvalidField):  # shaped as the JSON schema's own refusal
        where = FieldProblem(loc=f"body.{exc.field}", message=exc.reason)
        return problem_response(status, exc.code, exc.message, field_errors=[where])
    return problem_response(status, exc.code, exc.message)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = [
        FieldProblem(loc=".".join(str(p) for p in e.get("loc", ())), message=str(e.get("msg", "")))
        for e in exc.errors()
    ]
    detail = "; ".join(f"{f.loc}: {f.message}" for f in fields[:5]) or "invalid request"
    return problem_response(422, "validation_error", detail, field_errors=fields)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = getattr(exc, "code", None) or _CODE_BY_STATUS.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else _phrase(exc.status_code)
    if exc.status_code == 404 and not isinstance(exc, ApiProblem):
        detail = f"No route for {request.method} {request.url.path}."
    elif exc.status_code == 405 and not isinstance(exc, ApiProblem):
        detail = f"{request.method} is not allowed on {request.url.path}."
    return problem_response(exc.status_code, code, detail, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "internal_error", "An unexpected error occurred.")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"

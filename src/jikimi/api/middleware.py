"""Pure-ASGI middleware: body-size limits, a time-to-first-byte timeout, metrics.

Written against raw ASGI (not ``BaseHTTPMiddleware``) so that they see every
request, including the ones rejected before routing, and never buffer a body:

::

    MetricsMiddleware            counts every request by route template and status
      └─ TimeoutMiddleware       503 "timeout" if no response has started in time
           └─ BodyLimitMiddleware  413 before reading an over-large body
                └─ FastAPI (exception handlers → problem JSON, routes)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jikimi.api.metrics import UNMATCHED_ROUTE, ApiMetrics
from jikimi.api.problems import ApiProblem, problem_response

log = logging.getLogger(__name__)

LimitFor = Callable[[Scope], int]
"""Largest body (bytes) a request may send, given its scope (method and path)."""


class BodyLimitMiddleware:
    """Refuse bodies over the limit: by ``Content-Length`` up front, else while reading.

    A declared length over the cap is answered at once (nothing is read). A body
    sent without a length (chunked) is counted as it arrives; the moment it
    passes the cap, reading stops with an :class:`ApiProblem` 413, which FastAPI
    re-raises from body parsing and the problem handler renders.
    """

    def __init__(self, app: ASGIApp, limit_for: LimitFor) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ApiProblem(413, "payload_too_large", _too_large_detail(limit))
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except ApiProblem as exc:  # raised outside the exception handlers' reach
            if started or exc.status_code != 413:
                raise
            await _too_large(limit)(scope, receive, send)


class TimeoutMiddleware:
    """Answer 503 ``timeout`` when no response has started within the time limit.

    Only the time to the first byte is limited: a streaming export may take as
    long as it needs once it has started. Work running in a thread cannot be
    interrupted; its late answer is dropped and the thread finishes on its own.
    """

    def __init__(self, app: ASGIApp, seconds: float, exempt: Callable[[Scope], bool]) -> None:
        self.app = app
        self.seconds = seconds
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(scope):
            await self.app(scope, receive, send)
            return
        started = False
        timed_out = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out:
                return  # the 503 has gone out; drop the late answer
            started = started or message["type"] == "http.response.start"
            await send(message)

        error: Exception | None = None
        async with anyio.create_task_group() as group:

            async def watchdog() -> None:
                nonlocal timed_out
                await anyio.sleep(self.seconds)
                if started:
                    return
                timed_out = True
                log.warning("request timed out: %s %s", scope["method"], scope["path"])
                detail = f"No response within {self.seconds:g} s; try again later."
                await problem_response(503, "timeout", detail)(scope, receive, send)
                group.cancel_scope.cancel()

            group.start_soon(watchdog)
            try:
                await self.app(scope, receive, guarded_send)
            except Exception as exc:  # re-raised below, outside the task group
                error = exc
            group.cancel_scope.cancel()
        if error is not None and not timed_out:
            raise error


class MetricsMiddleware:
    """Count requests and time them, labelled by route template and status."""

    def __init__(
        self, app: ASGIApp, metrics: ApiMetrics, routes: Callable[[], Sequence[BaseRoute]]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started_at = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = self._template(scope)
            self.metrics.observe_request(
                scope["method"], route, status, time.perf_counter() - started_at
            )

    def _template(self, scope: Scope) -> str:
        """The matched route's path template; resolved here if routing never ran."""
        route: Any = scope.get("route")
        if route is not None and hasattr(route, "path"):
            return str(route.path)
        for candidate in self.routes():
            match, child_scope = candidate.matches(scope)
            if match == Match.FULL:
                found = child_scope.get("route", candidate)  # included routers say which
                return str(getattr(found, "path", UNMATCHED_ROUTE))
        return UNMATCHED_ROUTE


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _too_large_detail(limit: int) -> str:
    return f"The request body is larger than the limit of {limit} bytes."


def _too_large(limit: int) -> ASGIApp:
    return problem_response(413, "payload_too_large", _too_large_detail(limit))

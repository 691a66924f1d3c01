"""Templates, and the route class that turns errors into pages rather than JSON.

A page's errors are the services' typed errors; :class:`UiRoute` renders them on
the error page with the status they carry, a missing session as a redirect to
the sign-in form.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from jikimi import errors
from jikimi.domain import Permission
from jikimi.services.accounts import SessionInfo
from jikimi.ui.auth import SignInRequired, TotpRequired

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"

_STATUS: tuple[tuple[type[errors.JikimiError], int], ...] = (
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.TooManyAttempts, 429),
    (errors.InvalidInput, 400),
    (errors.Unavailable, 503),
)


def status_of(exc: errors.JikimiError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def _ago(at: datetime | None) -> str:
    if at is None:
        return ""
    seconds = int((datetime.now(UTC) - at).total_seconds())
    if seconds < 3600:
        return f"{max(seconds // 60, 0)} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def clock(deadline: datetime | None, done: bool = False) -> dict[str, Any]:
    """A deadline as text and a state: ``overdue`` (red), ``soon`` (< 6 h) or ``ok``."""
    if deadline is None:
        return {"text": "no deadline", "state": "none"}
    if done:
        return {"text": "done", "state": "done"}
    left = (deadline - datetime.now(UTC)).total_seconds()
    hours, minutes = divmod(int(abs(left)) // 60, 60)
    text = f"{hours} h {minutes:02d} min"
    if left < 0:
        return {"text": f"overdue by {text}", "state": "overdue"}
    return {"text": f"{text} left", "state": "soon" if left < 6 * 3600 else "ok"}


@cache
def templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(TEMPLATES))
    t.env.filters["ago"] = _ago
    t.env.filters["when"] = lambda at: "" if at is None else f"{at:%Y-%m-%d %H:%M} UTC"
    t.env.globals["clock"] = clock
    t.env.globals["P"] = Permission
    return t


def page(
    request: Request,
    name: str,
    session: SessionInfo | None = None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """Render ``name`` with the signed-in user, her CSRF token and the navigation."""
    return templates().TemplateResponse(
        request,
        name,
        {"session": session, "csrf": session.csrf if session else "", **context},
        status_code=status_code,
    )


class UiRoute(APIRoute):
    """Errors of a page become the error page (or the sign-in form)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                target = quote(request.url.path)
                return RedirectResponse(f"/signin?next={target}", status_code=303)
            except TotpRequired:
                return RedirectResponse("/account/totp", status_code=303)
            except errors.JikimiError as exc:
                status = status_of(exc)
                if status >= 500:
                    log.error("page %s failed: %s", request.url.path, exc.code)
                return page(request, "error.html", None, status, message=exc.message, status=status)

        return route

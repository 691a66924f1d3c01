"""Her own account: change the password, recovery codes; and the reset link's page.

The reset page has no session (she cannot sign in: that is why she has the link),
so its form uses the sign-in form's double-submit CSRF token. The link's token is
in the path; the pages send no referrer, so it never leaves in a header.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from jikimi.errors import InvalidInput, NotFound, Unauthorized
from jikimi.ui.auth import (
    SESSION_COOKIE,
    FormSessionDep,
    ServicesDep,
    SessionDep,
    check_pre_csrf,
    new_pre_csrf,
    set_pre_csrf_cookie,
)
from jikimi.ui.rendering import UiRoute, page

router = APIRouter(route_class=UiRoute, include_in_schema=False)


def _account(
    request: Request, ui: ServicesDep, session: SessionDep, status: int = 200, **context: object
) -> Response:
    left = ui.accounts.recovery_codes_left(session.user) if session.user.has_totp else None
    return page(request, "account.html", session, status, codes_left=left, **context)


@router.get("/account")
def account(request: Request, ui: ServicesDep, session: SessionDep, done: str = "") -> Response:
    return _account(request, ui, session, done=done)


@router.post("/account/password")
def change_password(
    request: Request,
    ui: ServicesDep,
    session: FormSessionDep,
    old: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    again: Annotated[str, Form()] = "",
) -> Response:
    if new != again:
        return _account(request, ui, session, 400, error="the two new passwords differ")
    try:
        ended = ui.accounts.change_password(
            session.user, request.cookies.get(SESSION_COOKIE, ""), old, new
        )
    except (Unauthorized, InvalidInput) as exc:
        status = 401 if isinstance(exc, Unauthorized) else 400
        return _account(request, ui, session, status, error=exc.message)
    return RedirectResponse(f"/account?done=password&ended={ended}", status_code=303)


@router.post("/account/recovery")
def regenerate_codes(
    request: Request,
    ui: ServicesDep,
    session: FormSessionDep,
    password: Annotated[str, Form()] = "",
) -> Response:
    try:
        codes = ui.accounts.regenerate_recovery_codes(session.user, password)
    except Unauthorized as exc:
        return _account(request, ui, session, 401, error=exc.message)
    return page(request, "recovery_codes.html", session, codes=codes)


def _reset_form(
    request: Request, ui: ServicesDep, token: str, status: int, **context: object
) -> Response:
    pre = new_pre_csrf()
    response = page(request, "reset.html", None, status, pre_csrf=pre, token=token, **context)
    set_pre_csrf_cookie(response, pre, ui.app.settings.ui_secure_cookies)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/reset/{token}")
def reset_form(request: Request, ui: ServicesDep, token: str) -> Response:
    if not ui.accounts.reset_is_live(token):
        raise NotFound("this reset link is unknown, used or expired: ask for a new one")
    return _reset_form(request, ui, token, 200)


@router.post("/reset/{token}")
def reset(
    request: Request,
    ui: ServicesDep,
    token: str,
    csrf: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    again: Annotated[str, Form()] = "",
) -> Response:
    check_pre_csrf(request, csrf)
    if new != again:
        return _reset_form(request, ui, token, 400, error="the two passwords differ")
    try:
        ui.accounts.use_reset(token, new)
    except InvalidInput as exc:
        return _reset_form(request, ui, token, 400, error=exc.message)
    response = RedirectResponse("/signin?reset=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response

"""Sign in (password, then TOTP or a recovery code if she has one), sign out, enrol TOTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from jikimi.errors import TooManyAttempts, Unauthorized
from jikimi.services import totp
from jikimi.ui.auth import (
    SESSION_COOKIE,
    FormSessionDep,
    ServicesDep,
    SessionDep,
    check_pre_csrf,
    new_pre_csrf,
    set_pre_csrf_cookie,
    set_session_cookie,
)
from jikimi.ui.rendering import UiRoute, page

router = APIRouter(route_class=UiRoute, include_in_schema=False)


def _safe_next(target: str) -> str:
    """Only a path on this site (never ``//elsewhere`` or a full URL)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _form(request: Request, ui: ServicesDep, status: int, **context: object) -> Response:
    token = new_pre_csrf()
    response = page(request, "signin.html", None, status, pre_csrf=token, **context)
    set_pre_csrf_cookie(response, token, ui.app.settings.ui_secure_cookies)
    return response


@router.get("/signin")
def signin_form(request: Request, ui: ServicesDep, next: str = "/", reset: str = "") -> Response:
    return _form(request, ui, 200, next=_safe_next(next), reset=bool(reset))


@router.post("/signin")
def signin(
    request: Request,
    ui: ServicesDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    check_pre_csrf(request, csrf)
    try:
        signed = ui.accounts.sign_in(email, password, code)
    except Unauthorized as exc:
        return _form(request, ui, 401, error=exc.message, email=email, next=_safe_next(next))
    except TooManyAttempts as exc:
        return _form(request, ui, 429, error=exc.message, email=email, next=_safe_next(next))
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(response, signed.token, ui.app.settings.ui_secure_cookies)
    return response


@router.post("/signout")
def signout(request: Request, ui: ServicesDep, session: FormSessionDep) -> Response:
    ui.accounts.sign_out(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account/totp")
def totp_form(request: Request, session: SessionDep) -> Response:
    secret = totp.new_secret()
    return page(
        request,
        "totp.html",
        session,
        secret=secret,
        uri=totp.uri(secret, session.user.email),
        required=session.must_enrol_totp,
    )


@router.post("/account/totp")
def totp_enrol(
    request: Request,
    ui: ServicesDep,
    session: FormSessionDep,
    secret: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
) -> Response:
    codes = ui.accounts.enrol_totp(session.user, secret, code)
    return page(request, "recovery_codes.html", session, codes=codes)

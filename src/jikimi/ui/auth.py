"""Who is signed in, and whether a form really came from one of our pages.

The session cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no
other site's page sends it) and ``Secure`` when ``ui_secure_cookies`` says the
server is behind HTTPS. Each form carries the session's CSRF token in a hidden
field, compared in constant time; the sign-in form, which has no session yet,
uses a double-submit token (a cookie and a field that must be equal).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Form, Request
from starlette.responses import Response

from jikimi.domain import Permission
from jikimi.errors import Forbidden
from jikimi.services.accounts import SESSION_HOURS, SessionInfo
from jikimi.ui.context import UiServices, services

SESSION_COOKIE = "jk_session"
PRE_CSRF_COOKIE = "jk_pre_csrf"


class SignInRequired(Exception):
    """No live session: the page redirects to the sign-in form."""


class TotpRequired(Exception):
    """The tenant requires a second factor of this user, who has none yet."""


ServicesDep = Annotated[UiServices, Depends(services)]


def current_session(request: Request, ui: ServicesDep) -> SessionInfo:
    info = ui.accounts.session(request.cookies.get(SESSION_COOKIE))
    if info is None:
        raise SignInRequired
    if info.must_enrol_totp and not request.url.path.startswith(("/account/totp", "/signout")):
        raise TotpRequired
    return info


SessionDep = Annotated[SessionInfo, Depends(current_session)]


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def checked_session(session: SessionDep, csrf: Annotated[str, Form()] = "") -> SessionInfo:
    """The session of a form post whose CSRF token is the session's own."""
    if not _same(csrf, session.csrf):
        raise Forbidden("this form has expired or did not come from this site: reload the page")
    return session


FormSessionDep = Annotated[SessionInfo, Depends(checked_session)]


def check_pre_csrf(request: Request, csrf: str) -> None:
    if not _same(csrf, request.cookies.get(PRE_CSRF_COOKIE, "")):
        raise Forbidden("this form has expired or did not come from this site: reload the page")


def new_pre_csrf() -> str:
    return secrets.token_urlsafe(32)


def set_pre_csrf_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        PRE_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/"
    )


def set_session_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    response.delete_cookie(PRE_CSRF_COOKIE, path="/")


def require_page(session: SessionInfo, permission: Permission) -> None:
    if not session.principal.can(permission):
        raise Forbidden(f"your role ({session.user.role.value}) cannot open this page")

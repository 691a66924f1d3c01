"""Dependencies of the routes, as ``Annotated`` aliases (``PrincipalDep``, ``BanksDep``…).

Routes declare what they need by type; this module is the only place that
knows where it comes from (the app's :class:`~jikimi.api.context.ApiContext`)
and how a caller is authenticated: ``Authorization: Bearer <api key>`` checked
by :meth:`KeyService.authenticate` on every request (no cache, so a revoked
key fails at once). The dependency is a plain function, so FastAPI runs the
database lookup in its threadpool, off the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jikimi.api.context import ApiContext, HashMatcher
from jikimi.api.scanning import ScanBackend
from jikimi.domain import Principal
from jikimi.errors import Unauthorized
from jikimi.services import BankService, KeyService
from jikimi.services.persons import PersonService

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key (jk_…) issued by `jikimi tenant create` or POST /v1/keys.",
)


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


ContextDep = Annotated[ApiContext, Depends(get_context)]


def get_principal(
    context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller, or :class:`Unauthorized` (401 with WWW-Authenticate)."""
    if credentials is None:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    return context.keys.authenticate(credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _keys(context: ContextDep) -> KeyService:
    return context.keys


def _banks(context: ContextDep) -> BankService:
    return context.banks


def _matching(context: ContextDep) -> HashMatcher:
    return context.matching


def _persons(context: ContextDep) -> PersonService:
    return context.persons


def _scans(context: ContextDep) -> ScanBackend:
    return context.scans


KeysDep = Annotated[KeyService, Depends(_keys)]
BanksDep = Annotated[BankService, Depends(_banks)]
MatchingDep = Annotated[HashMatcher, Depends(_matching)]
ScansDep = Annotated[ScanBackend, Depends(_scans)]
PersonsDep = Annotated[PersonService, Depends(_persons)]

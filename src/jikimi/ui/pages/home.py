"""The start page: what this person can do, by her role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from jikimi.ui.auth import SessionDep
from jikimi.ui.rendering import UiRoute, page

router = APIRouter(route_class=UiRoute, include_in_schema=False)


@router.get("/")
def home(request: Request, session: SessionDep) -> Response:
    return page(request, "home.html", session)

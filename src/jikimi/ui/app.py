"""Mount the pages on the API's app: routers, static files, security headers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from jikimi.ui.middleware import SecurityHeadersMiddleware
from jikimi.ui.pages import ROUTERS

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Add the web pages to ``app`` (called by :func:`jikimi.api.app.create_app`)."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.add_middleware(SecurityHeadersMiddleware)

"""Routes of the victim page.

No account and no API key: the page's one write, ``POST /victim/api/report``,
takes hashes and text only (its schema forbids any other field) and opens a case
in the tenant named by the ``victim_tenant`` setting
(:class:`~jikimi.services.selfreports.SelfReportService`). Her status is read
through the same service and rate limiter as the public ``POST /v1/status``.
Both limits are counted in the database, so replicas of ``jikimi serve`` share
them rather than each allowing its own share.

Every response carries a Content-Security-Policy whose ``default-src 'self'``
keeps the page from sending anything to another site; ``blob:`` images and media
are her own files shown back to her (object URLs never leave the browser), and
``'wasm-unsafe-eval'`` lets the vendored hash-wasm compile its WebAssembly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from jikimi.config import Settings
from jikimi.domain import EnrolPhoto, ReportContact
from jikimi.errors import InvalidInput, NotFound, TooManyAttempts, Unavailable
from jikimi.services.casereports import SharedAttemptLimiter
from jikimi.services.casework import Casework
from jikimi.services.persons import PersonService
from jikimi.services.selfreports import (
    MAX_FACE_PHOTOS,
    MAX_ITEMS,
    MAX_PLACES,
    MAX_URL,
    REPORTS_PER_HOUR,
    ReportedItem,
    SelfReport,
    SelfReportService,
    enrol_face,
)
from jikimi.ui.victim.strings import LANGUAGES, STRINGS, choose


class VictimPageUnavailable(Unavailable):
    """No tenant takes reports from the victim page on this server (503)."""

    code = "victim_page_unavailable"


class VictimContext(Protocol):
    """The part of the app's context (built by the API's lifespan) this page uses."""

    @property
    def settings(self) -> Settings: ...

    @property
    def casework(self) -> Casework: ...

    @property
    def persons(self) -> PersonService: ...


def _context(request: Request) -> VictimContext:
    context: VictimContext = request.app.state.context
    return context


ContextDep = Annotated[VictimContext, Depends(_context)]

CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' blob:; "
    "media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
LANG_COOKIE = "jikimi_lang"

_STATIC = {
    "pdq.js": "text/javascript",
    "hasher-worker.js": "text/javascript",
    "victim.js": "text/javascript",
    "victim.css": "text/css",
    "icon.svg": "image/svg+xml",
    "vendor/hash-wasm/md5.umd.min.js": "text/javascript",
    "vendor/hash-wasm/sha256.umd.min.js": "text/javascript",
    "vendor/hash-wasm/LICENSE": "text/plain; charset=utf-8",
}
"""The only files served: a fixed list, so no path can reach outside the folder."""

_env = Environment(
    loader=PackageLoader("jikimi.ui.victim", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

router = APIRouter(prefix="/victim", include_in_schema=False)


class ReportLimiter(SharedAttemptLimiter):
    """Reports per client and hour, counted in the database like the PIN tries.

    Its own keys (a report is not a wrong PIN): without the prefix, a girl who sent
    five reports would be locked out of looking up her case.
    """

    @staticmethod
    def _hashed(keys: Sequence[str]) -> list[str]:
        return SharedAttemptLimiter._hashed([f"victim-report|{k}" for k in keys])


def _reports(context: ContextDep, request: Request) -> SelfReportService:
    """One service per app, made on first use (the casework services exist by then)."""
    state = request.app.state
    service: SelfReportService | None = getattr(state, "victim_reports", None)
    if service is None:
        work = context.casework
        service = SelfReportService(
            work.store,
            work.cases,
            context.settings.victim_tenant,
            limiter=ReportLimiter(work.store, limit=REPORTS_PER_HOUR, window_s=3600.0),
            persons=context.persons,
            pin_limiter=work.reports.limiter,
        )
        state.victim_reports = service
    return service


ReportsDep = Annotated[SelfReportService, Depends(_reports)]


def _language(request: Request) -> str:
    return choose(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def _page(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    lang = _language(request)
    t = STRINGS[lang]
    html = _env.get_template(template).render(
        lang=lang,
        t=t,
        languages=[(code, STRINGS[code]["lang_name"]) for code in LANGUAGES],
        path=request.url.path,
        strings_json=json.dumps(t, ensure_ascii=False).replace("<", "\\u003c"),
        **values,
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Language"] = lang
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, path="/victim", samesite="strict", httponly=True
        )
    return response


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def report_page(request: Request, reports: ReportsDep) -> HTMLResponse:
    return _page(request, "report.html", available=reports.available)


@router.get("/privacy", response_class=HTMLResponse)
def privacy_page(request: Request) -> HTMLResponse:
    return _page(request, "privacy.html")


@router.get("/status", response_class=HTMLResponse)
def status_form(request: Request) -> HTMLResponse:
    return _page(request, "status.html", view=None, error=None, number="")


@router.post("/status", response_class=HTMLResponse)
def status_lookup(
    request: Request,
    context: ContextDep,
    number: Annotated[str, Form(max_length=64)],
    pin: Annotated[str, Form(max_length=64)],
) -> HTMLResponse:
    """Her case through the public status service: the same limiter, the same answer
    whether the number or the PIN was wrong."""
    client = request.client.host if request.client else "unknown"
    t = STRINGS[_language(request)]
    try:
        view = context.casework.reports.victim_status(number, pin, client)
    except TooManyAttempts:
        return _page(
            request, "status.html", 429, view=None, error=t["status_too_many"], number=number
        )
    except NotFound:
        return _page(
            request, "status.html", 404, view=None, error=t["status_not_found"], number=number
        )
    return _page(request, "status.html", view=view, error=None, number=number, when=_when)


def _when(at: datetime | None) -> str:
    return "" if at is None else f"{at:%Y-%m-%d %H:%M} UTC"


class ItemIn(BaseModel):
    """One file's hashes as her device computed them. No other field is accepted."""

    model_config = ConfigDict(extra="forbid")

    md5: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{32}$")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    pdq: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    place: str | None = Field(default=None, max_length=MAX_URL)


class ReportIn(BaseModel):
    """A self-report: hashes and text, nothing that could hold an image."""

    model_config = ConfigDict(extra="forbid")

    items: list[ItemIn] = Field(min_length=1, max_length=MAX_ITEMS)
    places: list[str] = Field(default_factory=list, max_length=MAX_PLACES)
    contact: ReportContact | None = None
    language: str = Field(default="ko", pattern=r"^(ko|en)$")


@router.post("/api/report")
def submit_report(body: ReportIn, request: Request, reports: ReportsDep) -> JSONResponse:
    if not reports.available:
        raise VictimPageUnavailable(
            "this server takes no reports from the victim page (no victim_tenant is set)",
        )
    client = request.client.host if request.client else "unknown"
    opened = reports.submit(
        SelfReport(
            items=tuple(ReportedItem(i.md5, i.sha256, i.pdq, i.place) for i in body.items),
            places=tuple(p[:MAX_URL] for p in body.places),
            contact=body.contact,
            language=body.language,
        ),
        client,
    )
    return JSONResponse(
        {"number": opened.case.number, "pin": opened.pin, "items": len(body.items)},
        status_code=201,
        headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
    )


@router.post("/api/face")
async def submit_face(request: Request, reports: ReportsDep) -> JSONResponse:
    """Her face photos, sent only from the page's consent step (see the module docstring)."""
    async with request.form(max_files=MAX_FACE_PHOTOS, max_fields=8) as form:
        unknown = sorted(set(form) - {"number", "pin", "consent", "photos"})
        if unknown:
            raise InvalidInput(f"unknown form field(s): {', '.join(unknown)}")
        photos = []
        for i, part in enumerate(form.getlist("photos")):
            if isinstance(part, UploadFile):
                photos.append(EnrolPhoto(name=f"photo {i + 1}", data=await part.read()))
        number, pin = str(form.get("number") or ""), str(form.get("pin") or "")
        consented = form.get("consent") == "yes"
    client = request.client.host if request.client else "unknown"
    person = await run_in_threadpool(
        enrol_face,
        reports,
        number,
        pin,
        photos,
        consented=consented,
        client=client,
    )
    return JSONResponse(
        {"templates": person.templates},
        status_code=201,
        headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
    )


@router.get("/static/{name:path}")
def static(name: str) -> Response:
    media_type = _STATIC.get(name)
    if media_type is None:
        raise NotFound(f"no file {name!r}")
    data = resources.files("jikimi.ui.victim").joinpath("static", *name.split("/")).read_bytes()
    return Response(
        data,
        media_type=media_type,
        headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"},
    )

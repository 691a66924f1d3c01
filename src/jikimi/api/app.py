"""The FastAPI application: ``create_app(settings)`` builds it, nothing happens at import.

::

    uvicorn ─► MetricsMiddleware ─► TimeoutMiddleware ─► BodyLimitMiddleware
               ─► FastAPI (problem handlers) ─► routes/* ─► services ─► store

The lifespan opens the database, starts the matching service (its indexes load
in the background: ``/readyz`` says when) and the scan job runner, and closes
them on shutdown. Each
uvicorn worker process runs its own app from :func:`create_app_from_env`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from starlette.types import Scope

import jikimi
from jikimi import ui
from jikimi.api import problems
from jikimi.api.context import ApiContext
from jikimi.api.fetch import UrlFetcher
from jikimi.api.metrics import ApiMetrics
from jikimi.api.middleware import BodyLimitMiddleware, MetricsMiddleware, TimeoutMiddleware
from jikimi.api.routes import ROUTERS
from jikimi.api.scanning import LazyScanner, ScanBatcher
from jikimi.api.uploads import media_body_limit
from jikimi.config import Settings, load_settings
from jikimi.domain import MAX_ENROL_PHOTOS
from jikimi.errors import JikimiError
from jikimi.services import BankService, KeyService
from jikimi.services.casework import CaseworkRunner, attach_casework
from jikimi.services.face_retro import FaceRetro, FaceRetroRunner
from jikimi.services.jobs import JobService
from jikimi.services.matching import MatchService
from jikimi.services.persons import FaceGallery, PersonService
from jikimi.services.retro import RetroMatcher
from jikimi.services.scans import ScanService
from jikimi.store import Store
from jikimi.ui import victim

log = logging.getLogger(__name__)

JSON_BODY_LIMIT = 1024 * 1024
"""Largest JSON body (a 1,000-hash match request is about 100 KB)."""
MULTIPART_SLACK = 64 * 1024
"""Room for multipart framing and small form fields around an upload."""

_UPLOAD_PATHS = re.compile(r"^/v1/(scan|persons|banks/[^/]+/(entries|import))/?$")
_PERSONS_PATH = re.compile(r"^/v1/persons/?$")
_LONG_RUNNING = re.compile(r"^/v1/banks/[^/]+/import/?$")
"""Imports may take minutes (a million rows); they are exempt from the request timeout."""

_DESCRIPTION = """\
Find and remove non-consensual sexual imagery, AI deepfakes included.

Authenticate with `Authorization: Bearer <API key>`. Every error is an RFC 9457
problem (`application/problem+json`) with a stable `code`.
"""


def create_app(
    settings: Settings,
    *,
    fetcher: UrlFetcher | None = None,
    scanner: LazyScanner | None = None,
) -> FastAPI:
    """The API for ``settings``; the database is opened when the app starts (lifespan).

    ``fetcher`` and ``scanner`` are seams for tests (a fake transport; one model
    load shared by many apps); by default each app builds its own.
    """
    metrics = ApiMetrics.create()
    app = FastAPI(
        title="jikimi",
        version=jikimi.__version__,
        description=_DESCRIPTION,
        lifespan=_lifespan(
            settings, metrics, fetcher or UrlFetcher(settings), scanner or LazyScanner(settings)
        ),
    )
    problems.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(victim.router)
    ui.mount(app)  # the web pages (jikimi.ui), with their security headers
    # Added innermost first: the last one added sees the request first.
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit_for(settings))
    app.add_middleware(
        TimeoutMiddleware,
        seconds=settings.request_timeout_s,
        exempt=lambda scope: bool(_LONG_RUNNING.match(scope["path"])),
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=lambda: app.routes)
    return app


def create_app_from_env() -> FastAPI:
    """The uvicorn factory (``jikimi serve``): settings from ``JIKIMI_*`` variables."""
    return create_app(load_settings())


def body_limit_for(settings: Settings) -> Callable[[Scope], int]:
    """Media uploads (plus multipart framing) by the one rule of :mod:`jikimi.api.uploads`;
    bank imports ``max_import_bytes`` (a million-row file is larger than any image);
    anything else 1 MiB.

    ``POST /v1/scan`` and ``POST /v1/banks/{name}/entries`` take the same media, so the
    same bodies: videos up to ``video_max_bytes``, which the route tells from images
    (held to ``max_bytes``) once it has the file.
    An enrolment (``POST /v1/persons``) takes up to 10 photos of ``max_bytes`` each.
    """
    media_limit = media_body_limit(settings) + MULTIPART_SLACK
    import_limit = settings.max_import_bytes + MULTIPART_SLACK
    persons_limit = settings.max_bytes * MAX_ENROL_PHOTOS + MULTIPART_SLACK

    def limit_for(scope: Scope) -> int:
        path = scope["path"]
        if scope.get("method") == "POST" and _UPLOAD_PATHS.match(path):
            if _PERSONS_PATH.match(path):
                return persons_limit
            return import_limit if _LONG_RUNNING.match(path) else media_limit
        return JSON_BODY_LIMIT

    return limit_for


def _lifespan(
    settings: Settings, metrics: ApiMetrics, fetcher: UrlFetcher, scanner: LazyScanner
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = build_context(settings, metrics, fetcher, scanner)
        app.state.context = context
        context.matching.start()
        context.jobs.start()
        context.retro.start()
        context.casework_runner.start()
        if context.face_retro is not None:
            context.face_retro.start()
        # Load the models now, off the event loop, so the first scan is not slow.
        threading.Thread(
            target=_warm_up, args=(scanner,), name="jikimi-warm-up", daemon=True
        ).start()
        # Imports whose process died: noted now, and again once a lease taken just
        # before a crash has lapsed.
        recovery = threading.Timer(settings.import_lease_s, _recover_imports, (context.banks,))
        recovery.daemon = True
        _recover_imports(context.banks)
        recovery.start()
        try:
            yield
        finally:
            recovery.cancel()
            context.casework_runner.close()
            if context.face_retro is not None:
                context.face_retro.close()
            context.retro.close()
            context.jobs.close()
            context.matching.close()
            context.store.close()

    return lifespan


def _recover_imports(banks: BankService) -> None:
    try:
        banks.recover_imports()  # logs each interrupted import
    except Exception:
        log.exception("could not look for interrupted imports")


def _warm_up(scanner: LazyScanner) -> None:
    try:
        scanner.warm_up()
    except JikimiError as exc:  # the first scan will report it as a problem
        log.error("could not load the scan models: %s", exc.message)


def build_context(
    settings: Settings, metrics: ApiMetrics, fetcher: UrlFetcher, scanner: LazyScanner
) -> ApiContext:
    """Open the store and build the services of one process."""
    store = Store.from_settings(settings)
    retro = RetroMatcher(store, settings)
    matching = MatchService(store, settings, on_applied=retro.notify)
    gallery = FaceGallery(store, settings)
    scans = ScanService(
        store,
        scanner,
        matching.matcher_for,
        faces_for=gallery.faces_for,
        keep_faces=gallery.keep_scan_faces,
    )
    banks = BankService(store, settings=settings, listener=matching)
    casework = attach_casework(scans, store, settings)  # re-uploads, outbox, review queue
    return ApiContext(
        settings=settings,
        metrics=metrics,
        fetcher=fetcher,
        store=store,
        keys=KeyService(store),
        banks=banks,
        matching=matching,
        retro=retro,
        scanner=scanner,
        scans=scans,
        batcher=ScanBatcher(scans),
        jobs=JobService(store, scans, settings),
        persons=PersonService(store, settings, gallery=gallery),
        casework=casework,
        casework_runner=CaseworkRunner(casework, banks.add_entries),
        face_retro=FaceRetroRunner(FaceRetro(store, settings)),
    )

"""One thin router per resource; :data:`ROUTERS` is the list the app includes."""

from __future__ import annotations

from fastapi import APIRouter

from jikimi.api.routes import (
    banks,
    cases,
    entries,
    health,
    imports,
    jobs,
    keys,
    match,
    metrics,
    persons,
    scan,
    scans,
    sor,
    webhooks,
)

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    metrics.router,
    scan.router,
    scans.router,
    jobs.router,
    match.router,
    banks.router,
    entries.router,
    imports.router,
    keys.router,
    persons.router,
    cases.router,
    sor.router,
    webhooks.router,
)

__all__ = ["ROUTERS"]

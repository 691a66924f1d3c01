"""Role matrix and tenant isolation of the pages: the API's rules, page by page.

Every role of one tenant opens every page; the expected answer comes from the
same permission table the services use (``ROLE_PERMISSIONS``) or, for the review
queue, from the review roles. Another tenant's scan and case are not found.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from playwright.sync_api import BrowserContext
from ui_helpers import PASSWORD, Live, held_scan

from jikimi.domain import ROLE_PERMISSIONS, Permission, Role
from jikimi.services.reviews import REVIEW_ROLES

PAGES: dict[str, Permission | None] = {
    "/": None,
    "/account": None,
    "/desk": Permission.CASE_READ,
    "/desk/hosts": Permission.CASE_READ,
    "/desk/report": Permission.CASE_READ,
    "/admin": Permission.KEY_ADMIN,
    "/admin/users": Permission.KEY_ADMIN,
    "/admin/keys": Permission.KEY_ADMIN,
    "/admin/banks": Permission.BANK_READ,
}
REVIEW_PAGES = ("/review", "/review/escalations")
"""Open to the review roles (reviewers and admins), not to a permission."""


@contextmanager
def _session(live: Live, email: str) -> Iterator[httpx.Client]:
    """A signed-in client that follows no redirects (a 303 is an answer to check)."""
    with httpx.Client(base_url=live.base, timeout=60) as client:
        form = client.get("/signin").text
        token = form.split('name="csrf" value="')[1].split('"')[0]
        r = client.post("/signin", data={"email": email, "password": PASSWORD, "csrf": token})
        assert r.status_code == 303, r.text
        yield client


def test_every_page_without_a_parameter_is_in_the_matrix() -> None:
    from fastapi.routing import APIRoute
    from starlette.routing import BaseRoute

    from jikimi.api.app import create_app
    from jikimi.config import Settings

    pages: set[str] = set()

    def walk(routes: list[BaseRoute]) -> None:  # included routers stay one route each
        for route in routes:
            if isinstance(route, APIRoute):
                module = route.endpoint.__module__
                # the victim page is public (no account): the API's role matrix covers it
                ui = module.startswith("jikimi.ui.") and not module.startswith("jikimi.ui.victim.")
                if ui and "GET" in route.methods and "{" not in route.path:
                    pages.add(route.path)
                continue
            inner = getattr(route, "original_router", None) or route
            walk(getattr(inner, "routes", []))

    walk(create_app(Settings()).routes)
    assert pages - {"/signin", "/account/totp", *REVIEW_PAGES} == set(PAGES)


def test_each_role_opens_only_its_pages(live: Live) -> None:
    side = live.sides[0]
    for role in Role:
        with _session(live, side.email(role)) as client:
            for path, permission in PAGES.items():
                allowed = permission is None or permission in ROLE_PERMISSIONS[role]
                status = client.get(path).status_code
                assert status == (200 if allowed else 403), (role, path, status)
            for path in REVIEW_PAGES:
                status = client.get(path).status_code
                assert status == (200 if role in REVIEW_ROLES else 403), (role, path, status)


def test_signed_out_pages_redirect_to_sign_in(live: Live) -> None:
    with httpx.Client(base_url=live.base) as client:
        for path in [*PAGES, *REVIEW_PAGES]:
            r = client.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/signin"), path


def test_another_tenants_things_are_not_found(context: BrowserContext, live: Live) -> None:
    mine, theirs = live.sides
    scan_id = held_scan(live, theirs, "astronaut.jpg")
    with live.api(theirs) as api:
        case = api.post("/v1/cases", json={"title": "theirs", "language": "en"}).json()
    with _session(live, mine.email(Role.ADMIN)) as client:
        assert client.get(f"/review/{scan_id}").status_code == 404
        assert client.get(f"/review/{scan_id}/preview.jpg").status_code == 404
        assert client.get(f"/desk/cases/{case['case']['id']}").status_code == 404
        token = client.get("/desk").text.split('name="csrf" value="')[1].split('"')[0]
        r = client.post(f"/review/{scan_id}/unblur", data={"csrf": token})
        assert r.status_code == 404
    assert not live.audit("unblur", scan_id)

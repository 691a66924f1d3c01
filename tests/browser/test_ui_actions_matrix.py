"""Role matrix of the pages' form actions: every POST route of the UI, every role, and
another tenant's things.

The table below is checked against the app's routes: a new POST route of the pages
without an entry fails :func:`test_every_form_action_is_in_the_matrix`. For each
role (a fresh account of that role in tenant "acme") every action is posted with a
valid CSRF token and a valid form:

- on a thing of its own tenant: the action's success status when the role may
  act (each time on a thing made for it), else 403;
- on the same kind of thing of tenant "other" (actions whose path names one):
  404 when the role may act (another tenant's things do not exist for her), else
  403, and the other tenant's thing is left as it was.

The expected roles come from the services' one permission table
(``ROLE_PERMISSIONS``) or, for the review queue, the review roles.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from ui_helpers import PASSWORD, Live, Side, held_scan

from jikimi.domain import ROLE_PERMISSIONS, Permission, Role
from jikimi.evidence import Sealer, load_or_create_secret
from jikimi.services import totp
from jikimi.services.accounts import AccountService
from jikimi.services.reviews import REVIEW_ROLES
from jikimi.store import Store
from jikimi.store.case_models import AuditRow

EVERYONE = frozenset(Role)
PUBLIC = {"/signin", "/reset/{token}"}
"""Posted without a session (their forms carry a double-submit token instead)."""


def _can(permission: Permission) -> frozenset[Role]:
    return frozenset(r for r in Role if permission in ROLE_PERMISSIONS[r])


@dataclass
class World:
    live: Live
    accounts: AccountService
    cache: dict[tuple[str, str], Any] = field(default_factory=dict)

    def api(self, side: Side, body: dict[str, Any] | None, path: str, key: str = "") -> Any:
        headers = {"Authorization": f"Bearer {key or side.admin_key}"}
        with httpx.Client(base_url=self.live.base, headers=headers, timeout=120) as c:
            r = c.post(path, json=body)
        assert r.status_code in (200, 201), (path, r.text)
        return r.json()

    def once(self, side: Side, what: str, make: Callable[[], Any]) -> Any:
        if (side.name, what) not in self.cache:
            self.cache[(side.name, what)] = make()
        return self.cache[(side.name, what)]

    # --- things of a side, made through the API (an admin key) ----------------------

    def host(self, side: Side) -> str:
        slug = f"matrix-{side.name}"

        def make() -> str:
            contacts = [{"kind": "email", "value": f"abuse@{side.name}.example"}]
            body = {"slug": slug, "name": f"Host of {side.name}", "language": "en"}
            self.api(side, {**body, "contacts": contacts, "bases": ["take_it_down"]}, "/v1/hosts")
            return slug

        return str(self.once(side, "host", make))

    def case(self, side: Side) -> str:
        return str(self.api(side, {"title": "matrix case"}, "/v1/cases")["case"]["id"])

    def item(self, side: Side, case_id: str | None = None) -> str:
        case_id = case_id or self.case(side)
        body = {"md5": secrets.token_hex(16), "host": self.host(side)}
        return str(self.api(side, body, f"/v1/cases/{case_id}/items")["id"])

    def notice(self, side: Side, *, approved: bool) -> str:
        case_id = self.case(side)
        self.item(side, case_id)
        notice = self.api(side, {"case": case_id, "host": self.host(side)}, "/v1/notices")
        if approved:  # four eyes: approved by another key than the one that drafted it
            reviewer = self.once(
                side,
                "reviewer key",
                lambda: self.api(side, {"name": "matrix", "role": "reviewer"}, "/v1/keys"),
            )
            self.api(side, None, f"/v1/notices/{notice['id']}/approve", reviewer["secret"])
        return str(notice["id"])

    def key(self, side: Side) -> str:
        return str(self.api(side, {"name": "doomed", "role": "platform"}, "/v1/keys")["key"]["id"])

    def bank(self, side: Side) -> str:
        name = f"MATRIX_{side.name.upper()}"
        return str(
            self.once(
                side,
                "bank",
                lambda: self.api(side, {"name": name, "kind": "watch"}, "/v1/banks")["name"],
            )
        )

    def user(self, side: Side) -> str:
        email = f"doomed-{secrets.token_hex(4)}@{side.name}.test"
        return self.accounts.create(side.tenant_id, email, Role.PLATFORM, PASSWORD).id


Make = Callable[[World, Side, bool], tuple[str, dict[str, Any]]]
"""(world, side, fresh) -> the path and form of the action on a thing of ``side``;
``fresh``: a thing made for this call (an allowed role changes it)."""


@dataclass(frozen=True)
class Action:
    roles: frozenset[Role]
    ok: int
    make: Make
    names_a_thing: bool = False
    files: bool = False


def _fixed(path: str, **form: Any) -> Make:
    return lambda w, side, fresh: (path, dict(form))


def _scan(w: World, side: Side, fresh: bool) -> str:
    if fresh:
        return held_scan(w.live, side, "astronaut.jpg")
    return str(w.once(side, "scan", lambda: held_scan(w.live, side, "astronaut.jpg")))


def _totp(w: World, side: Side, fresh: bool) -> tuple[str, dict[str, Any]]:
    secret = totp.new_secret()
    return "/account/totp", {"secret": secret, "code": totp.code_now(secret)}


def _thing(path: str, make_id: Callable[[World, Side, bool], str], **form: Any) -> Make:
    return lambda w, side, fresh: (path.format(make_id(w, side, fresh)), dict(form))


def _shared(kind: str, make_id: Callable[[World, Side], str]) -> Callable[[World, Side, bool], str]:
    """A thing made fresh for an allowed role, else one per side (nobody changes it)."""

    def get(w: World, side: Side, fresh: bool) -> str:
        return make_id(w, side) if fresh else str(w.once(side, kind, lambda: make_id(w, side)))

    return get


_case = _shared("case", World.case)
_item = _shared("item", World.item)
_draft = _shared("draft", lambda w, s: w.notice(s, approved=False))
_approved = _shared("approved", lambda w, s: w.notice(s, approved=True))
_key = _shared("key", World.key)
_user = _shared("user", World.user)


def _notice_draft(w: World, side: Side, fresh: bool) -> tuple[str, dict[str, Any]]:
    case_id = _case(w, side, fresh)
    w.item(side, case_id) if fresh else w.once(side, "case item", lambda: w.item(side, case_id))
    return f"/desk/cases/{case_id}/notices", {"host": w.host(side)}


def _unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


CASE_WRITE = _can(Permission.CASE_WRITE)
KEY_ADMIN = _can(Permission.KEY_ADMIN)

ACTIONS: dict[str, Action] = {
    "/account/totp": Action(EVERYONE, 200, _totp),
    "/account/recovery": Action(EVERYONE, 200, _fixed("/account/recovery", password=PASSWORD)),
    "/account/password": Action(
        EVERYONE,
        303,
        _fixed(
            "/account/password",
            old=PASSWORD,
            new="a changed passphrase",
            again="a changed passphrase",
        ),
    ),
    "/review/{scan_id}/unblur": Action(
        REVIEW_ROLES, 200, _thing("/review/{}/unblur", _scan), names_a_thing=True
    ),
    "/review/{scan_id}/decide": Action(
        REVIEW_ROLES,
        303,
        _thing("/review/{}/decide", _scan, action="dismiss"),
        names_a_thing=True,
    ),
    "/desk/cases": Action(CASE_WRITE, 200, _fixed("/desk/cases", title="matrix", language="en")),
    "/desk/cases/{case_id}/items": Action(
        CASE_WRITE,
        303,
        lambda w, s, f: (f"/desk/cases/{_case(w, s, f)}/items", {"md5": secrets.token_hex(16)}),
        names_a_thing=True,
    ),
    "/desk/items/{item_id}/status": Action(
        CASE_WRITE, 303, _thing("/desk/items/{}/status", _item, status="removed"), True
    ),
    "/desk/cases/{case_id}/notices": Action(CASE_WRITE, 303, _notice_draft, names_a_thing=True),
    "/desk/notices/{notice_id}/approve": Action(
        _can(Permission.NOTICE_APPROVE), 303, _thing("/desk/notices/{}/approve", _draft), True
    ),
    "/desk/notices/{notice_id}/send": Action(
        CASE_WRITE, 303, _thing("/desk/notices/{}/send", _approved), names_a_thing=True
    ),
    "/desk/hosts": Action(
        _can(Permission.HOST_WRITE),
        303,
        lambda w, s, f: (
            "/desk/hosts",
            {"slug": _unique("h-"), "name": "A host", "email": "a@b.example"},
        ),
    ),
    "/admin/settings": Action(
        KEY_ADMIN, 303, _fixed("/admin/settings", daily_cap=300, break_minutes=45)
    ),
    "/admin/users": Action(
        KEY_ADMIN,
        303,
        lambda w, s, f: (
            "/admin/users",
            {"email": f"{_unique('new-')}@acme.test", "role": "platform", "password": PASSWORD},
        ),
    ),
    "/admin/users/{user_id}/reset": Action(
        KEY_ADMIN, 200, _thing("/admin/users/{}/reset", _user), names_a_thing=True
    ),
    "/admin/users/{user_id}/reset-totp": Action(
        KEY_ADMIN, 303, _thing("/admin/users/{}/reset-totp", _user), names_a_thing=True
    ),
    "/admin/users/{user_id}/{change}": Action(
        KEY_ADMIN, 303, _thing("/admin/users/{}/disable", _user), names_a_thing=True
    ),
    "/admin/keys": Action(KEY_ADMIN, 200, _fixed("/admin/keys", name="matrix", role="platform")),
    "/admin/keys/{key_id}/revoke": Action(
        KEY_ADMIN, 303, _thing("/admin/keys/{}/revoke", _key), names_a_thing=True
    ),
    "/admin/banks": Action(
        _can(Permission.BANK_WRITE),
        303,
        lambda w, s, f: ("/admin/banks", {"name": _unique("MB_").upper(), "kind": "watch"}),
    ),
    "/admin/banks/{name}": Action(
        _can(Permission.BANK_WRITE),
        303,
        lambda w, s, f: (f"/admin/banks/{w.bank(s)}", {"pdq_threshold": 31, "enabled": "on"}),
        names_a_thing=True,
    ),
    "/admin/banks/{name}/import": Action(
        _can(Permission.BANK_TRANSFER),
        303,
        lambda w, s, f: (f"/admin/banks/{w.bank(s)}/import", {}),
        names_a_thing=True,
        files=True,
    ),
    "/signout": Action(EVERYONE, 303, _fixed("/signout")),  # last: it ends the session
}


def _ui_post_routes() -> set[str]:
    from fastapi.routing import APIRoute
    from starlette.routing import BaseRoute

    from jikimi.api.app import create_app
    from jikimi.config import Settings

    found: set[str] = set()

    def walk(routes: list[BaseRoute]) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                module = route.endpoint.__module__
                # the victim page is public (no account): the API's role matrix covers it
                ui = module.startswith("jikimi.ui.") and not module.startswith("jikimi.ui.victim.")
                if ui and "POST" in route.methods:
                    found.add(route.path)
                continue
            inner = getattr(route, "original_router", None) or route
            walk(getattr(inner, "routes", []))

    walk(create_app(Settings()).routes)
    return found


def test_every_form_action_is_in_the_matrix() -> None:
    assert _ui_post_routes() == set(ACTIONS) | PUBLIC
    assert list(ACTIONS)[-1] == "/signout"


@pytest.fixture
def world(live: Live) -> Iterator[World]:
    store = Store.from_settings(live.settings)
    try:
        sealer = Sealer(load_or_create_secret(live.data_dir / "keys" / "evidence.key"))
        yield World(live, AccountService(store, sealer))
    finally:
        store.close()


@contextmanager
def _signed_in(live: Live, email: str) -> Iterator[tuple[httpx.Client, str]]:
    with httpx.Client(base_url=live.base, timeout=120) as client:
        token = client.get("/signin").text.split('name="csrf" value="')[1].split('"')[0]
        r = client.post("/signin", data={"email": email, "password": PASSWORD, "csrf": token})
        assert r.status_code == 303, r.text
        csrf = client.get("/account").text.split('name="csrf" value="')[1].split('"')[0]
        yield client, csrf


def _post(client: httpx.Client, csrf: str, action: Action, path: str, form: dict[str, Any]) -> int:
    files = None
    if action.files:
        files = {"file": ("h.csv", f"signal_type,signal_value\nmd5,{secrets.token_hex(16)}\n")}
    return client.post(path, data={**form, "csrf": csrf}, files=files).status_code


def test_each_role_may_post_only_its_actions_and_only_on_its_tenants_things(
    world: World,
) -> None:
    mine, theirs = world.live.sides
    wrong: list[tuple[str, str, str, int, int]] = []
    people = []
    for role in Role:
        email = f"matrix-{role.value}@{mine.name}.test"
        people.append(world.accounts.create(mine.tenant_id, email, role, PASSWORD).id)
        with _signed_in(world.live, email) as (client, csrf):
            for route, action in ACTIONS.items():
                allowed = role in action.roles
                if action.names_a_thing:
                    path, form = action.make(world, theirs, False)
                    got = _post(client, csrf, action, path, form)
                    if got != (404 if allowed else 403):
                        wrong.append(
                            (role.value, route, "other tenant", got, 404 if allowed else 403)
                        )
                path, form = action.make(world, mine, allowed)
                got = _post(client, csrf, action, path, form)
                if got != (action.ok if allowed else 403):
                    wrong.append(
                        (role.value, route, "own tenant", got, action.ok if allowed else 403)
                    )
    assert wrong == []
    with world.accounts.store.session() as s:  # nothing of theirs changed: no audit row
        acted = s.execute(
            sa.select(AuditRow.actor, AuditRow.action).where(
                AuditRow.tenant_id == theirs.tenant_id, AuditRow.actor.in_(people)
            )
        ).all()
    assert acted == []

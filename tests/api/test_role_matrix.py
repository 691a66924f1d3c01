"""THE role matrix: every endpoint x every role x (own tenant, other tenant).

The table below is the specification, written out by hand (not derived from
``ROLE_PERMISSIONS``), so a change to the roles in code shows up here as a
failing row. ``test_matrix_covers_every_route`` walks ``app.routes``: a new route
without a row fails, and so does a row whose route is gone.

"Other tenant" means: a caller of tenant B addresses tenant A's things. For a
route whose path (or, for drafting a notice, body) names a thing (a bank, entry,
scan, key, host, case, item, notice), B must get 403 if its
role lacks the permission (checked first, so nothing is revealed) and 404
otherwise. For a route whose path names nothing (list banks, match, scan…),
the response must not contain anything of A's, and the own-tenant call must find
the caller's own things (for scan and match, that half is in ``test_match.py`` and
``test_scan.py``, which also make sure a match is possible at all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from typing import Any

import httpx
import pytest
from api_helpers import Side, World, jpeg, random_hex
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Route

from jikimi.actions.webhooks import WebhookService
from jikimi.api.app import create_app
from jikimi.config import Settings
from jikimi.domain import BankCreate, BankKind, EnrolPhoto, EntryCreate, Role, SignalKind
from jikimi.services import BankService, KeyService
from jikimi.services.persons import PersonService

ADMIN, CURATOR, REVIEWER, PLATFORM, CASEWORKER = (
    Role.ADMIN,
    Role.CURATOR,
    Role.REVIEWER,
    Role.PLATFORM,
    Role.CASEWORKER,
)
EVERYONE = frozenset(Role)
BANK_READERS = frozenset({ADMIN, CURATOR, REVIEWER, CASEWORKER})
BANK_WRITERS = frozenset({ADMIN, CURATOR})
SCANNERS = frozenset({ADMIN, CURATOR, REVIEWER, PLATFORM})
MATCHERS = frozenset({ADMIN, CURATOR, PLATFORM})
SCAN_READERS = EVERYONE  # platform reads its own scans; curators too (services' choice)
KEY_ADMINS = frozenset({ADMIN})
PERSON_READERS = frozenset({ADMIN, CASEWORKER})
PERSON_WRITERS = frozenset({ADMIN, CASEWORKER})  # caseworkers enrol, with consent
CASE_READERS = frozenset({ADMIN, REVIEWER, CASEWORKER})
CASE_WRITERS = frozenset({ADMIN, CASEWORKER})
HOST_WRITERS = frozenset({ADMIN, CASEWORKER})
APPROVERS = frozenset({ADMIN, REVIEWER})
AUDIT_READERS = frozenset({ADMIN, REVIEWER})
SOURCE_READERS = frozenset({ADMIN, REVIEWER, CASEWORKER, PLATFORM})  # platforms: uploaders


class Target(Enum):
    PUBLIC = "public"  # no key needed
    THING = "thing"  # the path names one tenant's thing
    COLLECTION = "collection"  # the path names nothing of a tenant


@dataclass(frozen=True)
class Req:
    url: str
    kwargs: dict[str, Any] = field(default_factory=dict)


Build = Callable[[World, Side, Side, bool], Req]
"""(world, caller, target, fresh) → the request; ``target`` is the side whose things are
used; ``fresh``: the call should succeed, so it must act on a throwaway thing (a bank,
entry or key made for it), not on the world's own."""
Check = Callable[[World, Side, Side, httpx.Response], None]
"""For COLLECTION rows: asserts on an allowed response (own: finds; other: no leak)."""


@dataclass(frozen=True)
class Row:
    allowed: frozenset[Role] | None
    target: Target
    success: int
    build: Build
    check: Check | None = None


def _fresh_bank(w: World, side: Side, fresh: bool) -> str:
    if not fresh:
        return side.bank
    name = f"TMP_{random_hex(8).upper()}"
    BankService(w.store).create(side.principals[ADMIN], BankCreate(name=name, kind=BankKind.WATCH))
    return name


def _fresh_entry(w: World, side: Side, fresh: bool) -> str:
    if not fresh:
        return side.entry_id
    entry = BankService(w.store).add_entry(
        side.principals[ADMIN],
        side.bank,
        EntryCreate(signal=SignalKind.MD5, value=random_hex(32)),
    )
    return entry.id


def _fresh_key(w: World, side: Side, fresh: bool) -> str:
    if not fresh:
        return side.principals[PLATFORM].key_id
    return KeyService(w.store).issue(side.principals[ADMIN], PLATFORM, "spare").key.id


def _job(w: World, side: Side) -> str:
    """A scan job of ``side`` (made once per world, by its admin)."""
    if "job_id" not in side.extra:
        r = w.client.post(
            "/v1/scan?async=true", files={"file": ("t.jpg", side.image)}, headers=side.headers()
        )
        assert r.status_code == 202, r.text
        side.extra["job_id"] = r.json()["id"]
    job_id: str = side.extra["job_id"]
    return job_id


def _import(w: World, side: Side) -> str:
    """An import into ``side``'s bank (made once per world, by its admin)."""
    if "import_id" not in side.extra:
        r = w.client.post(
            f"/v1/banks/{side.bank}/import",
            files={"file": ("rows.csv", _csv())},
            headers=side.headers(),
        )
        assert r.status_code == 200, r.text
        side.extra["import_id"] = r.json()["import_id"]
    import_id: str = side.extra["import_id"]
    return import_id


def _face_photo() -> bytes:
    return resources.files("jikimi.data").joinpath("samples/astronaut.jpg").read_bytes()


def _person(w: World, side: Side, fresh: bool) -> str:
    """A person enrolled in ``side`` (the world's own one, or a throwaway)."""
    if not fresh and "person_id" in side.extra:
        person_id: str = side.extra["person_id"]
        return person_id
    person = PersonService(w.store, w.settings).enrol(
        side.principals[ADMIN], [EnrolPhoto("astronaut.jpg", _face_photo())], "test consent"
    )
    if not fresh:
        side.extra["person_id"] = person.id
    return person.id


def _enrol_body() -> dict[str, Any]:
    return {
        "files": [("photos", ("astronaut.jpg", _face_photo(), "image/jpeg"))],
        "data": {"consent": "signed form, test"},
    }


def _check_new_person(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    body = r.json()
    assert body["status"] == "active" and body["templates"] == 1
    assert "template" not in r.text.replace('"templates"', "")
    other = w.client.get(f"/v1/persons/{body['id']}", headers=w.other(caller).headers())
    assert other.status_code == 404, other.text


def _csv() -> bytes:
    return f"signal_type,signal_value,metadata\npdq,{random_hex(64)},\n".encode()


# --- casework things, made through the API by the side's caseworker ---------------------


def _cw_post(w: World, side: Side, url: str, body: dict[str, Any], status: int = 201) -> Any:
    r = w.client.post(url, json=body, headers=side.headers(CASEWORKER))
    assert r.status_code == status, r.text
    return r.json()


def _host(side: Side) -> str:
    return f"mail-{side.name}"


def _form_host(side: Side) -> str:
    return f"form-{side.name}"


def _hosts(w: World, side: Side) -> None:
    if "hosts" in side.extra:
        return
    _cw_post(
        w,
        side,
        "/v1/hosts",
        {
            "slug": _host(side),
            "name": f"Mail host of {side.name}",
            "language": "en",
            "contacts": [{"kind": "email", "value": f"abuse@{side.name}.example"}],
            "bases": ["take_it_down"],
        },
    )
    _cw_post(
        w,
        side,
        "/v1/hosts",
        {
            "slug": _form_host(side),
            "name": f"Form host of {side.name}",
            "language": "ko",
            "contacts": [{"kind": "form", "value": f"https://{side.name}.example/report"}],
            "bases": ["kcsc"],
        },
    )
    side.extra["hosts"] = True


def _new_case(w: World, side: Side) -> str:
    case_id: str = _cw_post(w, side, "/v1/cases", {"title": "matrix case"})["case"]["id"]
    return case_id


def _new_item(w: World, side: Side, case_id: str, host: str | None = None) -> str:
    _hosts(w, side)
    body = {"md5": random_hex(32), "host": host or _host(side), "source": "@matrix"}
    item_id: str = _cw_post(w, side, f"/v1/cases/{case_id}/items", body)["id"]
    return item_id


def _new_notice(w: World, side: Side, *, approved: bool, form: bool = False) -> str:
    host = _form_host(side) if form else _host(side)
    case_id = _new_case(w, side)
    _new_item(w, side, case_id, host)
    notice_id: str = _cw_post(w, side, "/v1/notices", {"case": case_id, "host": host})["id"]
    if approved:
        r = w.client.post(f"/v1/notices/{notice_id}/approve", headers=side.headers(REVIEWER))
        assert r.status_code == 200, r.text
    return notice_id


def _case(w: World, side: Side, fresh: bool = False) -> str:
    if fresh:
        return _new_case(w, side)
    if "case_id" not in side.extra:
        side.extra["case_id"] = _new_case(w, side)
        side.extra["item_id"] = _new_item(w, side, side.extra["case_id"])
    case_id: str = side.extra["case_id"]
    return case_id


def _item(w: World, side: Side, fresh: bool = False) -> str:
    if fresh:
        return _new_item(w, side, _case(w, side))
    _case(w, side)
    item_id: str = side.extra["item_id"]
    return item_id


def _notice(w: World, side: Side, fresh: bool = False, **kw: bool) -> str:
    if fresh:
        return _new_notice(w, side, approved=kw.get("approved", False), form=kw.get("form", False))
    if "notice_id" not in side.extra:
        side.extra["notice_id"] = _new_notice(w, side, approved=False)
    notice_id: str = side.extra["notice_id"]
    return notice_id


def _sent(w: World, side: Side) -> str:
    """A notice of ``side`` marked sent (its item notified), made once."""
    if "sent_id" not in side.extra:
        notice_id = _new_notice(w, side, approved=True, form=True)
        r = w.client.post(
            f"/v1/notices/{notice_id}/sent", json={}, headers=side.headers(CASEWORKER)
        )
        assert r.status_code == 200, r.text
        side.extra["sent_id"] = notice_id
    sent: str = side.extra["sent_id"]
    return sent


def _source(w: World, side: Side) -> str:
    r = w.client.get(f"/v1/items/{_item(w, side)}", headers=side.headers(CASEWORKER))
    source_id: str = r.json()["source_id"]
    return source_id


def _removed_scan(w: World, side: Side) -> str:
    """A scan of ``side`` that removed its content (a takedown-bank match), made once."""
    if "removed_scan" not in side.extra:
        r = w.client.post("/v1/scan", files={"file": ("t.jpg", side.image)}, headers=side.headers())
        assert r.status_code == 200 and r.json()["decision"]["action"] == "remove", r.text
        side.extra["removed_scan"] = r.json()["id"]
    scan_id: str = side.extra["removed_scan"]
    return scan_id


def _removed_item(w: World, side: Side) -> str:
    """An item of ``side`` confirmed removed by hand, made once."""
    if "removed_item" not in side.extra:
        item_id = _new_item(w, side, _case(w, side))
        _cw_post(w, side, f"/v1/items/{item_id}/status", {"status": "removed"}, 200)
        side.extra["removed_item"] = item_id
    removed: str = side.extra["removed_item"]
    return removed


def _victim(w: World, side: Side) -> dict[str, str]:
    if "victim" not in side.extra:
        opened = _cw_post(w, side, "/v1/cases", {"title": "victim's case"})
        side.extra["victim"] = {"number": opened["case"]["number"], "pin": opened["pin"]}
    victim: dict[str, str] = side.extra["victim"]
    return victim


def _draft_body(w: World, side: Side, fresh: bool) -> dict[str, Any]:
    case_id = _case(w, side, fresh=True) if fresh else _case(w, side)
    if fresh:
        _new_item(w, side, case_id)
    return {"case": case_id, "host": _host(side)}


# --- checks for routes whose path names nothing ---------------------------------------


def _check_bank_list(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    names = {b["name"] for b in r.json()["banks"]}
    assert (target.bank in names) == (target is caller), names


def _check_match(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    [result] = r.json()["results"]
    banks = {m["bank"] for m in result["matches"]}
    if target is not caller:  # that the caller's own are found: test_match.py
        assert target.bank not in banks, banks


def _check_scan(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    banks = {m["bank"] for m in r.json()["matches"]}
    if target is not caller:  # that the caller's own are found: test_scan.py
        assert target.bank not in banks, banks


def _check_key_list(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    ids = {k["id"] for k in r.json()["keys"]}
    assert (target.principals[ADMIN].key_id in ids) == (target is caller), ids


def _check_new_key(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    principal = KeyService(w.store).authenticate(r.json()["secret"])
    assert principal.tenant_id == caller.tenant_id


def _check_new_bank(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    name = r.json()["name"]
    owner = BankService(w.store).get(caller.principals[ADMIN], name)
    assert owner.tenant_id == caller.tenant_id
    listed = w.client.get("/v1/banks", headers=w.other(caller).headers()).json()["banks"]
    assert name not in {b["name"] for b in listed}


def _listed(key: str, field_name: str, thing: Callable[[World, Side], str]) -> Check:
    def check(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
        found = {x[field_name] for x in r.json()[key]}
        assert (thing(w, target) in found) == (target is caller), found

    return check


def _check_report(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    hosts = {h["host"] for h in r.json()["hosts"]}
    assert (_form_host(target) in hosts) == (target is caller), hosts


def _check_sor(key: str) -> Check:
    def check(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
        puids = {st["puid"] for st in r.json()["statements"]}
        assert (target.extra[key] in puids) == (target is caller), puids

    return check


def _check_overdue(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    # nobody's deadline has passed in this test: that overdue items are listed is
    # in test_cases_api.py; here, that none of the other tenant's ever is
    ids = {i["case_id"] for i in r.json()["items"]}
    if target is not caller:
        assert _case(w, target) not in ids


def _check_audit(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    body = r.json()
    assert body["ok"] is True and body["checked"] > 0, body


def _check_new_case(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    body = r.json()
    assert body["pin"] and body["case"]["number"]
    other = w.client.get(f"/v1/cases/{body['case']['id']}", headers=w.other(caller).headers())
    assert other.status_code == 404, other.text


def _check_new_host(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    listed = w.client.get("/v1/hosts", headers=w.other(caller).headers()).json()["hosts"]
    assert r.json()["id"] not in {h["id"] for h in listed}


def _hook_url(side: Side) -> str:
    return f"https://{side.name}.example/jikimi"


def _hooks(w: World, *sides: Side) -> WebhookService:
    """The app's webhook service, with a webhook set for each of ``sides``."""
    service: WebhookService = w.client.app.state.context.casework.webhooks  # type: ignore[attr-defined]
    for side in sides:
        service.set(side.principals[ADMIN], _hook_url(side))
    return service


def _check_webhook(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    assert r.json()["url"] == _hook_url(caller), r.text  # its own, never the other's
    assert "secret" not in r.text


def _check_new_webhook(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    body = r.json()
    assert body["secret"] and body["webhook"]["url"].endswith("/new")
    if target is not caller:  # the other tenant's webhook is untouched
        assert _hooks(w).get(target.principals[ADMIN]).url == _hook_url(target)


def _check_removed_webhook(w: World, caller: Side, target: Side, r: httpx.Response) -> None:
    if target is not caller:
        assert _hooks(w).get(target.principals[ADMIN]).url == _hook_url(target)


def _public(url: str) -> Row:
    return Row(None, Target.PUBLIC, 200, lambda w, c, t, f: Req(url))


MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/healthz"): _public("/healthz"),
    ("GET", "/readyz"): _public("/readyz"),
    ("GET", "/metrics"): _public("/metrics"),
    ("GET", "/openapi.json"): _public("/openapi.json"),
    ("GET", "/docs"): _public("/docs"),
    ("GET", "/docs/oauth2-redirect"): _public("/docs/oauth2-redirect"),
    ("GET", "/redoc"): _public("/redoc"),
    ("POST", "/v1/scan"): Row(
        SCANNERS,
        Target.COLLECTION,
        200,
        lambda w, c, t, f: Req("/v1/scan", {"files": {"file": ("t.jpg", t.image)}}),
        _check_scan,
    ),
    ("GET", "/v1/scans/{scan_id}"): Row(
        SCAN_READERS, Target.THING, 200, lambda w, c, t, f: Req(f"/v1/scans/{t.scan_id}")
    ),
    ("GET", "/v1/jobs/{job_id}"): Row(
        SCAN_READERS, Target.THING, 200, lambda w, c, t, f: Req(f"/v1/jobs/{_job(w, t)}")
    ),
    ("POST", "/v1/match"): Row(
        MATCHERS,
        Target.COLLECTION,
        200,
        lambda w, c, t, f: Req(
            "/v1/match", {"json": {"hashes": [{"type": "pdq", "value": t.entry_value}]}}
        ),
        _check_match,
    ),
    ("GET", "/v1/banks"): Row(
        BANK_READERS, Target.COLLECTION, 200, lambda w, c, t, f: Req("/v1/banks"), _check_bank_list
    ),
    ("POST", "/v1/banks"): Row(
        BANK_WRITERS,
        Target.COLLECTION,
        201,
        lambda w, c, t, f: Req(
            "/v1/banks", {"json": {"name": f"NEW_{random_hex(8).upper()}", "kind": "watch"}}
        ),
        _check_new_bank,
    ),
    ("GET", "/v1/banks/{name}"): Row(
        BANK_READERS, Target.THING, 200, lambda w, c, t, f: Req(f"/v1/banks/{t.bank}")
    ),
    ("PATCH", "/v1/banks/{name}"): Row(
        BANK_WRITERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(f"/v1/banks/{_fresh_bank(w, t, f)}", {"json": {"labels": ["x"]}}),
    ),
    ("DELETE", "/v1/banks/{name}"): Row(
        BANK_WRITERS, Target.THING, 204, lambda w, c, t, f: Req(f"/v1/banks/{_fresh_bank(w, t, f)}")
    ),
    ("POST", "/v1/banks/{name}/shares"): Row(
        BANK_WRITERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(
            f"/v1/banks/{_fresh_bank(w, t, f)}/shares", {"json": {"tenant": w.other(t).name}}
        ),
    ),
    ("DELETE", "/v1/banks/{name}/shares/{tenant}"): Row(
        BANK_WRITERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(f"/v1/banks/{_fresh_bank(w, t, f)}/shares/{w.other(t).name}"),
    ),
    ("GET", "/v1/banks/{name}/entries"): Row(
        BANK_READERS, Target.THING, 200, lambda w, c, t, f: Req(f"/v1/banks/{t.bank}/entries")
    ),
    ("POST", "/v1/banks/{name}/entries"): Row(
        BANK_WRITERS,
        Target.THING,
        201,
        lambda w, c, t, f: Req(
            f"/v1/banks/{t.bank}/entries", {"json": {"signal": "pdq", "value": random_hex(64)}}
        ),
    ),
    ("GET", "/v1/banks/{name}/entries/{entry_id}"): Row(
        BANK_READERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(f"/v1/banks/{t.bank}/entries/{t.entry_id}"),
    ),
    ("PATCH", "/v1/banks/{name}/entries/{entry_id}"): Row(
        BANK_WRITERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(
            f"/v1/banks/{t.bank}/entries/{_fresh_entry(w, t, f)}", {"json": {"status": "disabled"}}
        ),
    ),
    ("POST", "/v1/banks/{name}/entries/{entry_id}/withdraw"): Row(
        BANK_WRITERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(f"/v1/banks/{t.bank}/entries/{_fresh_entry(w, t, f)}/withdraw"),
    ),
    ("POST", "/v1/banks/{name}/import"): Row(
        BANK_WRITERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(
            f"/v1/banks/{t.bank}/import", {"files": {"file": ("rows.csv", _csv())}}
        ),
    ),
    ("GET", "/v1/banks/{name}/imports"): Row(
        BANK_WRITERS, Target.THING, 200, lambda w, c, t, f: Req(f"/v1/banks/{t.bank}/imports")
    ),
    ("GET", "/v1/imports/{import_id}"): Row(
        BANK_WRITERS, Target.THING, 200, lambda w, c, t, f: Req(f"/v1/imports/{_import(w, t)}")
    ),
    ("GET", "/v1/banks/{name}/export"): Row(
        BANK_WRITERS, Target.THING, 200, lambda w, c, t, f: Req(f"/v1/banks/{t.bank}/export")
    ),
    ("GET", "/v1/keys"): Row(
        KEY_ADMINS, Target.COLLECTION, 200, lambda w, c, t, f: Req("/v1/keys"), _check_key_list
    ),
    ("POST", "/v1/keys"): Row(
        KEY_ADMINS,
        Target.COLLECTION,
        201,
        lambda w, c, t, f: Req("/v1/keys", {"json": {"role": "platform", "name": "new"}}),
        _check_new_key,
    ),
    ("GET", "/v1/webhook"): Row(
        KEY_ADMINS,
        Target.COLLECTION,
        200,
        lambda w, c, t, f: (_hooks(w, c, t), Req("/v1/webhook"))[1],
        _check_webhook,
    ),
    ("PUT", "/v1/webhook"): Row(
        KEY_ADMINS,
        Target.COLLECTION,
        200,
        lambda w, c, t, f: (
            _hooks(w, t),
            Req("/v1/webhook", {"json": {"url": f"https://{c.name}.example/new"}}),
        )[1],
        _check_new_webhook,
    ),
    ("DELETE", "/v1/webhook"): Row(
        KEY_ADMINS,
        Target.COLLECTION,
        204,
        lambda w, c, t, f: (_hooks(w, c, t), Req("/v1/webhook"))[1],
        _check_removed_webhook,
    ),
    ("POST", "/v1/persons"): Row(
        PERSON_WRITERS,
        Target.COLLECTION,
        201,
        lambda w, c, t, f: Req("/v1/persons", _enrol_body()),
        _check_new_person,
    ),
    ("GET", "/v1/persons/{person_id}"): Row(
        PERSON_READERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(f"/v1/persons/{_person(w, t, False)}"),
    ),
    ("DELETE", "/v1/persons/{person_id}"): Row(
        PERSON_WRITERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(f"/v1/persons/{_person(w, t, f)}"),
    ),
    ("GET", "/v1/persons/{person_id}/matches"): Row(
        PERSON_READERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(f"/v1/persons/{_person(w, t, False)}/matches"),
    ),
    ("POST", "/v1/keys/{key_id}/revoke"): Row(
        KEY_ADMINS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(f"/v1/keys/{_fresh_key(w, t, f)}/revoke"),
    ),
    ("POST", "/v1/status"): Row(
        None,
        Target.PUBLIC,
        200,
        lambda w, c, t, f: Req("/v1/status", {"json": _victim(w, t)}),
    ),
    # the victim page (no account); this app has no victim_tenant, so reports are refused
    ("GET", "/victim"): _public("/victim"),
    ("GET", "/victim/"): _public("/victim/"),
    ("GET", "/victim/privacy"): _public("/victim/privacy"),
    ("GET", "/victim/status"): _public("/victim/status"),
    ("GET", "/victim/static/{name:path}"): _public("/victim/static/victim.css"),
    ("POST", "/victim/status"): Row(
        None, Target.PUBLIC, 200, lambda w, c, t, f: Req("/victim/status", {"data": _victim(w, t)})
    ),
    ("POST", "/victim/api/report"): Row(
        None,
        Target.PUBLIC,
        503,
        lambda w, c, t, f: Req("/victim/api/report", {"json": {"items": [{"md5": "0" * 32}]}}),
    ),
    ("POST", "/victim/api/face"): Row(  # no consent ticked: refused before anything
        None,
        Target.PUBLIC,
        422,
        lambda w, c, t, f: Req("/victim/api/face", {"data": _victim(w, t)}),
    ),
    ("GET", "/v1/reports"): Row(
        CASE_READERS,
        Target.COLLECTION,
        200,
        lambda w, c, t, f: (
            _sent(w, t),
            Req("/v1/reports", {"params": {"from": "2000-01-01", "to": "2999-12-31"}}),
        )[1],
        _check_report,
    ),
    ("GET", "/v1/reports/overdue"): Row(
        CASE_READERS,
        Target.COLLECTION,
        200,
        lambda w, c, t, f: (_sent(w, t), Req("/v1/reports/overdue"))[1],
        _check_overdue,
    ),
    ("POST", "/v1/items/{item_id}/recapture"): Row(
        CASE_WRITERS,
        Target.THING,
        409,  # the item is pending (captured): only an unreachable one is tried again
        lambda w, c, t, f: Req(f"/v1/items/{_item(w, t)}/recapture"),
    ),
    ("GET", "/v1/reports/sor"): Row(
        SCAN_READERS,
        Target.COLLECTION,
        200,
        lambda w, c, t, f: (
            _removed_scan(w, t),
            Req("/v1/reports/sor", {"params": {"from": "2000-01-01", "to": "2999-12-31"}}),
        )[1],
        _check_sor("removed_scan"),
    ),
    ("GET", "/v1/reports/sor/items"): Row(
        CASE_READERS,
        Target.COLLECTION,
        200,
        lambda w, c, t, f: (
            _removed_item(w, t),
            Req("/v1/reports/sor/items", {"params": {"from": "2000-01-01", "to": "2999-12-31"}}),
        )[1],
        _check_sor("removed_item"),
    ),
    ("GET", "/v1/sources/{source_id}"): Row(
        SOURCE_READERS, Target.THING, 200, lambda w, c, t, f: Req(f"/v1/sources/{_source(w, t)}")
    ),
    ("GET", "/v1/audit/verify"): Row(
        AUDIT_READERS,
        Target.COLLECTION,
        200,
        lambda w, c, t, f: (_case(w, t), Req("/v1/audit/verify"))[1],
        _check_audit,
    ),
    ("GET", "/v1/hosts"): Row(
        CASE_READERS,
        Target.COLLECTION,
        200,
        lambda w, c, t, f: (_hosts(w, t), Req("/v1/hosts"))[1],
        _listed("hosts", "slug", lambda w, s: _host(s)),
    ),
    ("POST", "/v1/hosts"): Row(
        HOST_WRITERS,
        Target.COLLECTION,
        201,
        lambda w, c, t, f: Req(
            "/v1/hosts",
            {
                "json": {
                    "slug": f"new-{random_hex(8)}",
                    "name": "New host",
                    "language": "de",
                    "contacts": [{"kind": "email", "value": "abuse@new.example"}],
                }
            },
        ),
        _check_new_host,
    ),
    ("GET", "/v1/hosts/{slug}"): Row(
        CASE_READERS,
        Target.THING,
        200,
        lambda w, c, t, f: (_hosts(w, t), Req(f"/v1/hosts/{_host(t)}"))[1],
    ),
    ("POST", "/v1/cases"): Row(
        CASE_WRITERS,
        Target.COLLECTION,
        201,
        lambda w, c, t, f: Req(
            "/v1/cases", {"json": {"title": "new", "victim_contact": "010-0000-0000"}}
        ),
        _check_new_case,
    ),
    ("GET", "/v1/cases"): Row(
        CASE_READERS,
        Target.COLLECTION,
        200,
        lambda w, c, t, f: (_case(w, t), Req("/v1/cases"))[1],
        _listed("cases", "id", lambda w, s: _case(w, s)),
    ),
    ("GET", "/v1/cases/{case_id}"): Row(
        CASE_READERS, Target.THING, 200, lambda w, c, t, f: Req(f"/v1/cases/{_case(w, t)}")
    ),
    ("POST", "/v1/cases/{case_id}/status"): Row(
        CASE_WRITERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(
            f"/v1/cases/{_case(w, t, f)}/status", {"json": {"status": "closed"}}
        ),
    ),
    ("GET", "/v1/cases/{case_id}/history"): Row(
        CASE_READERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(f"/v1/cases/{_case(w, t)}/history"),
    ),
    ("POST", "/v1/cases/{case_id}/items"): Row(
        CASE_WRITERS,
        Target.THING,
        201,
        lambda w, c, t, f: Req(
            f"/v1/cases/{_case(w, t)}/items", {"json": {"sha256": random_hex(64)}}
        ),
    ),
    ("GET", "/v1/cases/{case_id}/items"): Row(
        CASE_READERS, Target.THING, 200, lambda w, c, t, f: Req(f"/v1/cases/{_case(w, t)}/items")
    ),
    ("GET", "/v1/items/{item_id}"): Row(
        CASE_READERS, Target.THING, 200, lambda w, c, t, f: Req(f"/v1/items/{_item(w, t)}")
    ),
    ("POST", "/v1/items/{item_id}/status"): Row(
        CASE_WRITERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(
            f"/v1/items/{_item(w, t, f)}/status", {"json": {"status": "withdrawn"}}
        ),
    ),
    ("POST", "/v1/notices"): Row(
        CASE_WRITERS,
        Target.THING,
        201,
        lambda w, c, t, f: Req("/v1/notices", {"json": _draft_body(w, t, f)}),
    ),
    ("GET", "/v1/notices"): Row(
        CASE_READERS,
        Target.COLLECTION,
        200,
        lambda w, c, t, f: (_notice(w, t), Req("/v1/notices"))[1],
        _listed("notices", "id", lambda w, s: _notice(w, s)),
    ),
    ("GET", "/v1/notices/{notice_id}"): Row(
        CASE_READERS, Target.THING, 200, lambda w, c, t, f: Req(f"/v1/notices/{_notice(w, t)}")
    ),
    ("POST", "/v1/notices/{notice_id}/approve"): Row(
        APPROVERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(f"/v1/notices/{_notice(w, t, f)}/approve"),
    ),
    ("POST", "/v1/notices/{notice_id}/send"): Row(
        CASE_WRITERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(f"/v1/notices/{_notice(w, t, f, approved=True)}/send"),
    ),
    ("POST", "/v1/notices/{notice_id}/sent"): Row(
        CASE_WRITERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(
            f"/v1/notices/{_notice(w, t, f, approved=True, form=True)}/sent",
            {"json": {"note": "submitted by hand"}},
        ),
    ),
    ("POST", "/v1/notices/{notice_id}/discard"): Row(
        CASE_WRITERS,
        Target.THING,
        200,
        lambda w, c, t, f: Req(f"/v1/notices/{_notice(w, t, f)}/discard"),
    ),
}


def app_endpoints() -> set[tuple[str, str]]:
    """Every (method, path template) the app serves (HEAD goes with GET).

    Walks ``app.routes``, descending into included routers (FastAPI keeps them as
    one route object each since 0.13x; older versions flattened them).
    """
    found: set[tuple[str, str]] = set()

    def walk(routes: list[BaseRoute]) -> None:
        for route in routes:
            if isinstance(route, APIRoute | Route):
                module = route.endpoint.__module__
                if module.startswith("jikimi.ui.") and not module.startswith("jikimi.ui.victim."):
                    continue  # the signed-in pages: tests/browser/test_ui_roles.py walks them
                found.update((m, route.path) for m in route.methods or () if m != "HEAD")
                continue
            inner = getattr(route, "original_router", None) or route
            assert hasattr(inner, "routes"), f"unknown kind of route: {route!r}"
            walk(inner.routes)

    walk(create_app(Settings()).routes)
    return found


def test_matrix_covers_every_route() -> None:
    endpoints = app_endpoints()
    assert sorted(endpoints - MATRIX.keys()) == [], "routes without a row in MATRIX"
    assert sorted(MATRIX.keys() - endpoints) == [], "rows in MATRIX for routes that are gone"


def _expected(row: Row, role: Role, own: bool) -> int:
    assert row.allowed is not None
    if role not in row.allowed:
        return 403
    if own or row.target is Target.COLLECTION:
        return row.success
    return 404


def test_role_matrix(world: World) -> None:
    """Every endpoint x role x tenant; all mismatches are reported together."""
    failures: list[str] = []
    calls = 0
    for (method, path), row in sorted(MATRIX.items()):
        if row.allowed is None:
            req = row.build(world, world.a, world.a, False)
            r = world.client.request(method, req.url, **req.kwargs)
            calls += 1
            if r.status_code != row.success:
                failures.append(f"{method} {path} (no key): {r.status_code}")
            continue
        for caller in (world.a, world.b):
            for role in Role:
                for target in (caller, world.other(caller)):
                    own = target is caller
                    want = _expected(row, role, own)
                    req = row.build(world, caller, target, want < 400)
                    r = world.client.request(
                        method, req.url, headers=caller.headers(role), **req.kwargs
                    )
                    calls += 1
                    where = f"{method} {path} as {caller.name}/{role.value} on {target.name}"
                    if r.status_code != want:
                        failures.append(f"{where}: {r.status_code} (want {want}) {r.text[:150]}")
                    elif want >= 400 and r.headers["content-type"] != "application/problem+json":
                        failures.append(f"{where}: not a problem: {r.headers['content-type']}")
                    elif want < 400 and row.check is not None:
                        try:
                            row.check(world, caller, target, r)
                        except AssertionError as exc:
                            failures.append(f"{where}: check failed: {str(exc)[:200]}")
    assert not failures, f"{len(failures)} of {calls} calls wrong:\n" + "\n".join(failures)
    publics = sum(1 for row in MATRIX.values() if row.allowed is None)
    assert calls == publics + (len(MATRIX) - publics) * 2 * len(Role) * 2


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer jk_nonsense"}])
def test_every_private_route_refuses_a_missing_or_bad_key(
    sqlite_world: World, headers: dict[str, str]
) -> None:
    for (method, path), row in sorted(MATRIX.items()):
        if row.allowed is None:
            continue
        req = row.build(sqlite_world, sqlite_world.a, sqlite_world.a, False)
        r = sqlite_world.client.request(method, req.url, headers=headers, **req.kwargs)
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["code"] == "unauthorized"


def test_jpeg_helper_makes_distinct_images() -> None:
    assert jpeg(1) != jpeg(2) and jpeg(1) == jpeg(1)

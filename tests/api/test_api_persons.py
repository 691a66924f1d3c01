"""``/v1/persons`` and face matching in ``/v1/scan``, through the HTTP API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from api_helpers import TestClient, bearer

from face_samples import GROUP_PHOTO, astronaut, variant
from jikimi.config import Settings
from jikimi.domain import Role
from jikimi.services import KeyService, TenantService
from jikimi.store import Store

CONSENT = "signed form 2026-12-01, caseworker kim"


@pytest.fixture
def keys(sqlite_client: TestClient, sqlite_settings: Settings) -> Iterator[dict[str, str]]:
    """A caseworker and a platform key of tenant 'acme', and a platform key of 'bravo'."""
    store = Store.from_settings(sqlite_settings)
    try:
        out = {}
        for tenant in ("acme", "bravo"):
            _, issued = TenantService(store).create(tenant)
            service = KeyService(store)
            admin = service.authenticate(issued.secret)
            for role in (Role.CASEWORKER, Role.PLATFORM):
                out[f"{tenant}/{role.value}"] = service.issue(admin, role, role.value).secret
        yield out
    finally:
        store.close()


def _enrol(client: TestClient, key: str, *photos: bytes, **fields: str) -> httpx.Response:
    files = [("photos", (f"p{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos)]
    return client.post("/v1/persons", files=files, data=fields, headers=bearer(key))


def test_enrol_scan_withdraw(sqlite_client: TestClient, keys: dict[str, str]) -> None:
    client, caseworker = sqlite_client, keys["acme/caseworker"]
    opened = client.post("/v1/cases", json={"title": "her case"}, headers=bearer(caseworker))
    assert opened.status_code == 201, opened.text
    case = opened.json()["case"]["id"]
    unknown = _enrol(client, caseworker, astronaut(), consent=CONSENT, case="case_unknown")
    assert unknown.status_code == 404 and "no case" in unknown.json()["detail"]
    r = _enrol(client, caseworker, astronaut(), variant(astronaut()), consent=CONSENT, case=case)
    assert r.status_code == 201, r.text
    person = r.json()
    assert person["templates"] == 2 and person["case"] == case
    assert person["consent"]["text"] == CONSENT
    assert set(person) == {
        "id", "case", "status", "consent", "templates", "created_at",
        "withdrawn_at", "withdrawn_by", "events",
    }  # fmt: skip
    shown = client.get(f"/v1/persons/{person['id']}", headers=bearer(caseworker))
    assert shown.status_code == 200 and shown.json() == person

    upload = {"file": ("upload.jpg", variant(astronaut()))}
    r = client.post("/v1/scan", files=upload, headers=bearer(keys["acme/platform"]))
    assert r.status_code == 200, r.text
    verdict = r.json()
    [face] = verdict["faces"]
    assert face["person"] == person["id"] and face["similarity"] >= 0.5
    assert verdict["decision"]["action"] == "hold"
    assert any("registered person" in reason for reason in verdict["decision"]["reasons"])
    stored = client.get(f"/v1/scans/{verdict['id']}", headers=bearer(keys["acme/platform"]))
    assert stored.json()["faces"] == verdict["faces"]

    other = client.post("/v1/scan", files=upload, headers=bearer(keys["bravo/platform"]))
    assert other.json()["faces"] == [] and other.json()["decision"]["action"] == "allow"

    r = client.delete(f"/v1/persons/{person['id']}", headers=bearer(caseworker))
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert r.json()["templates"] == 0
    again = client.delete(f"/v1/persons/{person['id']}", headers=bearer(caseworker))
    assert again.status_code == 409 and again.json()["code"] == "person_withdrawn"
    after = client.post("/v1/scan", files=upload, headers=bearer(keys["acme/platform"]))
    assert after.json()["faces"] == []


@pytest.mark.parametrize(
    ("photos", "fields", "code"),
    [
        ((GROUP_PHOTO.read_bytes(),), {"consent": CONSENT}, "several_faces"),
        ((astronaut(),), {}, "consent_required"),
        ((b"not an image",), {"consent": CONSENT}, "unsupported_media"),
        ((), {"consent": CONSENT}, "validation_error"),  # no file: not even multipart
        ((astronaut(),), {"consent": CONSENT, "colour": "red"}, "validation_error"),
    ],
)
def test_refused_enrolments(
    sqlite_client: TestClient,
    keys: dict[str, str],
    photos: tuple[bytes, ...],
    fields: dict[str, str],
    code: str,
) -> None:
    r = _enrol(sqlite_client, keys["acme/caseworker"], *photos, **fields)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code


def test_platform_keys_may_not_enrol(sqlite_client: TestClient, keys: dict[str, str]) -> None:
    r = _enrol(sqlite_client, keys["acme/platform"], astronaut(), consent=CONSENT)
    assert r.status_code == 403


def test_enrolment_uploads_may_hold_ten_photos() -> None:
    from jikimi.api.app import JSON_BODY_LIMIT, MULTIPART_SLACK, body_limit_for

    settings = Settings(max_bytes=1000)
    limit = body_limit_for(settings)
    assert limit({"path": "/v1/persons", "method": "POST"}) == 10 * 1000 + MULTIPART_SLACK
    assert limit({"path": "/v1/persons/per_x", "method": "DELETE"}) == JSON_BODY_LIMIT

"""Retroactive face matching through the API: scan, then enrol her, then the
background check finds her in the stored scan (``GET /v1/scans/{id}``,
``GET /v1/persons/{id}/matches``); the other tenant sees nothing of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_helpers import TestClient, bearer

from face_samples import astronaut, variant
from jikimi.api.app import create_app
from jikimi.api.scanning import LazyScanner
from jikimi.config import FaceDetect, Settings
from jikimi.domain import Role
from jikimi.services import KeyService, TenantService
from jikimi.store import Store

CONSENT = "signed form 2026-12-01, caseworker kim"


def _keys(settings: Settings) -> dict[str, str]:
    store = Store.from_settings(settings)
    try:
        out = {}
        for tenant in ("acme", "bravo"):
            _, issued = TenantService(store).create(tenant)
            service = KeyService(store)
            admin = service.authenticate(issued.secret)
            for role in (Role.CASEWORKER, Role.PLATFORM):
                out[f"{tenant}/{role.value}"] = service.issue(admin, role, role.value).secret
        return out
    finally:
        store.close()


def test_she_is_found_in_a_scan_stored_before_her_enrolment(
    sqlite_settings: Settings, shared_scanner: LazyScanner
) -> None:
    settings = sqlite_settings.model_copy(update={"face_detect": FaceDetect.ALWAYS})
    keys = _keys(settings)
    with TestClient(create_app(settings, scanner=shared_scanner)) as client:
        upload = {"file": ("upload.jpg", variant(astronaut()))}
        r = client.post("/v1/scan", files=upload, headers=bearer(keys["acme/platform"]))
        assert r.status_code == 200, r.text
        scan = r.json()
        assert [f["person"] for f in scan["faces"]] == [None]
        other = client.post("/v1/scan", files=upload, headers=bearer(keys["bravo/platform"]))
        assert other.status_code == 200

        files = [("photos", ("her.jpg", astronaut(), "image/jpeg"))]
        r = client.post(
            "/v1/persons",
            files=files,
            data={"consent": CONSENT},
            headers=bearer(keys["acme/caseworker"]),
        )
        assert r.status_code == 201, r.text
        person = r.json()["id"]
        retro = client.app.state.context.face_retro.retro  # type: ignore[attr-defined]
        retro.clock = lambda: datetime.now(UTC) + timedelta(hours=1)  # past the settling time
        retro.run_until_idle()

        r = client.get(f"/v1/persons/{person}/matches", headers=bearer(keys["acme/caseworker"]))
        assert r.status_code == 200, r.text
        [match] = r.json()["matches"]
        assert match["scan"] == scan["id"] and match["face"] == 0 and match["similarity"] >= 0.5
        assert "template" not in r.text and "sealed" not in r.text
        stored = client.get(f"/v1/scans/{scan['id']}", headers=bearer(keys["acme/platform"]))
        assert stored.json()["faces"][0]["person"] == person
        assert stored.json()["decision"] == scan["decision"]  # decided on what was known then
        theirs = client.get(
            f"/v1/scans/{other.json()['id']}", headers=bearer(keys["bravo/platform"])
        )
        assert theirs.json()["faces"][0]["person"] is None
        hidden = client.get(
            f"/v1/persons/{person}/matches", headers=bearer(keys["bravo/caseworker"])
        )
        assert hidden.status_code == 404

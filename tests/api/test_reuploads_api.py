"""A removed item that comes back: a later scan or ``/v1/match`` links it to its case.

End to end over HTTP on both databases: an item captured from a local host on
127.0.0.1 is notified, a re-check (on an injected clock) finds it gone and banks
its hashes in the case's takedown bank, and then a platform's scan of the same
image marks the item ``reappeared`` with a new draft notice by the system; a
``/v1/match`` of another removed item's MD5 does the same. The other tenant's
scan of the same image touches nothing of the first tenant's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_helpers import TestClient, jpeg, make_side

from jikimi.api.app import create_app
from jikimi.api.scanning import LazyScanner
from jikimi.config import Settings
from jikimi.domain import Role
from jikimi.services.rechecks import Rechecker
from jikimi.store import Store
from pages_host import PagesHost, serve_pages

CW = Role.CASEWORKER


@pytest.fixture
def host() -> Iterator[PagesHost]:
    with serve_pages() as served:
        yield served


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def test_scan_and_match_link_reuploads(
    settings: Settings, shared_scanner: LazyScanner, host: PagesHost, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"capture_allow_networks": ["127.0.0.1/32"]})
    first, second = jpeg(71), jpeg(72)
    host.pages = {"/p/1.jpg": first, "/p/2.jpg": second}
    with TestClient(create_app(settings, scanner=shared_scanner)) as client:
        store = Store.from_settings(settings)
        try:
            a = make_side(client, store, "acme", "A_BANK", seed=1)
            b = make_side(client, store, "bravo", "B_BANK", seed=2)
            cw, admin = a.headers(CW), a.headers()
            bank = _ok(
                client.post("/v1/banks", json={"name": "TD", "kind": "takedown"}, headers=admin),
                201,
            )
            _ok(
                client.post(
                    "/v1/hosts",
                    json={
                        "slug": "pics",
                        "name": "Pics",
                        "language": "en",
                        "contacts": [{"kind": "form", "value": "https://pics.example/report"}],
                        "bases": ["take_it_down"],
                    },
                    headers=cw,
                ),
                201,
            )
            case = _ok(
                client.post(
                    "/v1/cases", json={"title": "C", "takedown_bank": bank["id"]}, headers=cw
                ),
                201,
            )["case"]
            base = f"http://127.0.0.1:{host.port}"
            items = [
                _ok(
                    client.post(
                        f"/v1/cases/{case['id']}/items",
                        json={"url": f"{base}/p/{n}.jpg", "host": "pics", "source": "@up"},
                        headers=cw,
                    ),
                    201,
                )
                for n in (1, 2)
            ]
            assert all(i["status"] == "pending" and i["evidence_sha256"] for i in items)
            notice = _ok(
                client.post("/v1/notices", json={"case": case["id"], "host": "pics"}, headers=cw),
                201,
            )
            _ok(
                client.post(f"/v1/notices/{notice['id']}/approve", headers=a.headers(Role.REVIEWER))
            )
            _ok(client.post(f"/v1/notices/{notice['id']}/sent", json={}, headers=cw))

            # the host takes both down; a re-check an hour later sees it and banks them
            host.pages = {}
            context = client.app.state.context  # type: ignore[attr-defined]
            checker: Rechecker = context.casework.rechecker(context.banks.add_entries)
            checker.clock = lambda: datetime.now(UTC) + timedelta(hours=1, minutes=1)
            assert checker.run_until_idle() == 2
            got = {
                i["id"]: i
                for i in _ok(client.get(f"/v1/cases/{case['id']}/items", headers=cw))["items"]
            }
            assert {i["status"] for i in got.values()} == {"removed"}
            entries = _ok(client.get("/v1/banks/TD/entries", headers=admin))["entries"]
            assert {e["metadata"]["item"] for e in entries} == {i["id"] for i in items}

            # the other tenant's platform posts the first image: nothing of acme's moves
            _ok(
                client.post(
                    "/v1/scan", files={"file": ("x.jpg", first)}, headers=b.headers(Role.PLATFORM)
                )
            )
            assert _ok(client.get(f"/v1/items/{items[0]['id']}", headers=cw))["status"] == "removed"

            # acme's platform key scans it: a re-upload, with a new draft by the system
            scan = _ok(
                client.post(
                    "/v1/scan", files={"file": ("x.jpg", first)}, headers=a.headers(Role.PLATFORM)
                )
            )
            assert "TD" in {m["bank"] for m in scan["matches"]}
            one = _ok(client.get(f"/v1/items/{items[0]['id']}", headers=cw))
            assert one["status"] == "reappeared" and one["reappeared_at"]
            drafts = [
                n
                for n in _ok(client.get("/v1/notices", params={"case": case["id"]}, headers=cw))[
                    "notices"
                ]
                if n["state"] == "draft"
            ]
            assert len(drafts) == 1 and drafts[0]["item_ids"] == [items[0]["id"]]
            assert drafts[0]["drafted_by"] == "system:reuploads"
            # four eyes still apply to the system's draft: a reviewer approves it
            _ok(
                client.post(
                    f"/v1/notices/{drafts[0]['id']}/approve", headers=a.headers(Role.REVIEWER)
                )
            )

            # a match of the second image's MD5 through /v1/match links the second item
            md5 = hashlib.md5(second).hexdigest()
            found = _ok(
                client.post(
                    "/v1/match",
                    json={"hashes": [{"type": "md5", "value": md5}]},
                    headers=a.headers(Role.PLATFORM),
                )
            )
            assert found["results"][0]["matches"]
            two = _ok(client.get(f"/v1/items/{items[1]['id']}", headers=cw))
            assert two["status"] == "reappeared"
            history = _ok(client.get(f"/v1/cases/{case['id']}/history", headers=cw))["entries"]
            assert ("system:reuploads", "draft") in {(e["actor"], e["action"]) for e in history}
            # the same scan again moves nothing and drafts no second notice for the same item
            _ok(
                client.post(
                    "/v1/scan", files={"file": ("x.jpg", first)}, headers=a.headers(Role.PLATFORM)
                )
            )
            notices = _ok(client.get("/v1/notices", params={"case": case["id"]}, headers=cw))
            assert len(notices["notices"]) == 3
        finally:
            store.close()

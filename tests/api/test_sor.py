"""DSA statements of reasons: what a platform submits to the Transparency Database.

On both databases, over HTTP: a scan removed on a takedown-bank match and a scan
held because of its uploader's record become statements with the database's field
names and values; a scan that was allowed does not; the CSV carries the same
statements; a case item confirmed removed becomes a not-automated statement.
"""

from __future__ import annotations

import csv
import io
import json

from api_helpers import World, assert_problem, jpeg, random_hex

from jikimi.domain import Role
from jikimi.services.sor import EEA, FIELDS

PERIOD = {"from": "2000-01-01", "to": "2999-12-31"}


def test_scan_statements_json_and_csv(world: World) -> None:
    w = world
    platform = w.a.headers(Role.PLATFORM)
    removed = w.client.post(
        "/v1/scan", files={"file": ("x.jpg", w.a.image)}, headers=platform
    ).json()
    allowed = w.client.post("/v1/scan", files={"file": ("x.jpg", jpeg(777))}, headers=platform)
    assert allowed.json()["decision"]["action"] == "allow"

    r = w.client.get("/v1/reports/sor", params=PERIOD, headers=platform)
    assert r.status_code == 200, r.text
    statements = {st["puid"]: st for st in r.json()["statements"]}
    assert allowed.json()["id"] not in statements and w.a.scan_id not in statements
    st = statements[removed["id"]]
    assert st["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert st["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert st["category"] == "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR"
    assert st["category_specification"] == ["KEYWORD_NON_CONSENSUAL_IMAGE_SHARING"]
    assert "2024/1385" in st["illegal_content_legal_ground"]
    assert "takedown bank" in st["illegal_content_explanation"]
    assert st["content_type"] == ["CONTENT_TYPE_IMAGE"]
    assert st["automated_detection"] == "Yes"
    assert st["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert st["source_type"] == "SOURCE_VOLUNTARY"
    assert st["territorial_scope"] == list(EEA)
    assert st["application_date"] == st["content_date"]
    assert len(st["application_date"]) == 10  # YYYY-MM-DD
    assert "incompatible_content_ground" not in st  # no nulls in the JSON
    assert set(st) <= set(FIELDS)

    # options: the territory and the content's language
    r = w.client.get(
        "/v1/reports/sor",
        params={**PERIOD, "territory": ["de", "FR"], "language": "ko"},
        headers=platform,
    )
    st = {s["puid"]: s for s in r.json()["statements"]}[removed["id"]]
    assert st["territorial_scope"] == ["DE", "FR"] and st["content_language"] == "ko"

    r = w.client.get("/v1/reports/sor", params={**PERIOD, "format": "csv"}, headers=platform)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == list(FIELDS)
    row = {x["puid"]: x for x in rows}[removed["id"]]
    assert json.loads(row["decision_visibility"]) == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert row["incompatible_content_ground"] == ""

    # nothing of one tenant in the other's export; a period with nothing is empty
    other = w.client.get("/v1/reports/sor", params=PERIOD, headers=w.b.headers(Role.PLATFORM))
    assert removed["id"] not in {s["puid"] for s in other.json()["statements"]}
    empty = w.client.get(
        "/v1/reports/sor", params={"from": "2001-01-01", "to": "2001-01-02"}, headers=platform
    )
    assert empty.json() == {"statements": []}
    bad = w.client.get("/v1/reports/sor", params={**PERIOD, "format": "xml"}, headers=platform)
    assert_problem(bad, 422, "validation_error")


def test_held_upload_of_a_risky_source_is_partially_automated(world: World) -> None:
    w = world
    platform = w.a.headers(Role.PLATFORM)
    for _ in range(3):
        w.client.post(
            "/v1/scan", files={"file": ("x.jpg", w.a.image)}, params={"uploader": "u9"},
            headers=platform,
        )  # fmt: skip
    held = w.client.post(
        "/v1/scan", files={"file": ("x.jpg", jpeg(778))}, params={"uploader": "u9"},
        headers=platform,
    ).json()  # fmt: skip
    assert held["decision"]["action"] == "hold"
    r = w.client.get("/v1/reports/sor", params=PERIOD, headers=platform)
    st = {s["puid"]: s for s in r.json()["statements"]}[held["id"]]
    assert st["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DISABLED"]
    assert st["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    assert st["category"] == "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR"
    assert "risky-source" in st["decision_facts"]


def test_item_statements_for_removed_case_items(world: World) -> None:
    w = world
    cw = w.a.headers(Role.CASEWORKER)
    case = w.client.post("/v1/cases", json={"title": "A"}, headers=cw).json()["case"]
    kept = w.client.post(
        f"/v1/cases/{case['id']}/items", json={"md5": random_hex(32)}, headers=cw
    ).json()
    gone = w.client.post(
        f"/v1/cases/{case['id']}/items", json={"md5": random_hex(32)}, headers=cw
    ).json()
    r = w.client.post(f"/v1/items/{gone['id']}/status", json={"status": "removed"}, headers=cw)
    assert r.status_code == 200, r.text

    r = w.client.get("/v1/reports/sor/items", params=PERIOD, headers=cw)
    assert r.status_code == 200, r.text
    statements = {s["puid"]: s for s in r.json()["statements"]}
    assert kept["id"] not in statements
    st = statements[gone["id"]]
    assert st["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert st["automated_detection"] == "No"
    assert st["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert st["source_type"] == "SOURCE_TYPE_OTHER_NOTIFICATION"
    # a platform key reads scans, not cases
    denied = w.client.get(
        "/v1/reports/sor/items", params=PERIOD, headers=w.a.headers(Role.PLATFORM)
    )
    assert_problem(denied, 403, "forbidden")

"""The casework routes end to end over HTTP: hosts, cases, items, notices, history.

The role matrix (``test_role_matrix.py``) checks who may call what; these tests
check what the calls do: a caseworker opens a case and drafts a notice, a second
key approves it, a form-only host's notice is marked sent and starts the items'
deadline clocks, and every change is in the case's hash-chained history.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api_helpers import World, assert_problem, random_hex

from jikimi.domain import Role

CW, REVIEWER = Role.CASEWORKER, Role.REVIEWER


def _post(w: World, url: str, body: dict[str, Any], role: Role = CW) -> Any:
    return w.client.post(url, json=body, headers=w.a.headers(role))


def _host(w: World, slug: str, contacts: list[dict[str, str]], language: str = "ko") -> Any:
    r = _post(
        w,
        "/v1/hosts",
        {
            "slug": slug,
            "name": slug.title(),
            "language": language,
            "contacts": contacts,
            "bases": ["kcsc"],
            "api_secret": None,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_case_to_sent_notice_over_http(world: World) -> None:
    w = world
    host = _host(w, "forum", [{"kind": "form", "value": "https://forum.example/report"}])
    assert host["has_api_secret"] is False and "api_secret" not in host

    r = _post(w, "/v1/cases", {"title": "Student A", "victim_contact": "010-1234-5678"})
    assert r.status_code == 201, r.text
    opened = r.json()
    case, pin = opened["case"], opened["pin"]
    assert pin.isdigit() and case["has_victim_contact"] is True
    assert "victim_contact" not in case and "010-1234-5678" not in r.text

    # the PIN is shown once: never again
    again = w.client.get(f"/v1/cases/{case['id']}", headers=w.a.headers(CW))
    assert again.status_code == 200 and pin not in again.text.replace(case["number"], "")

    md5 = random_hex(32)
    r = _post(w, f"/v1/cases/{case['id']}/items", {"md5": md5, "host": "forum", "source": "@ch"})
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["status"] == "pending" and item["source_id"]
    assert {"type": "md5", "value": md5} in item["signals"]

    r = _post(w, "/v1/notices", {"case": case["id"], "host": "forum"})
    assert r.status_code == 201, r.text
    notice = r.json()
    assert notice["state"] == "draft" and notice["item_ids"] == [item["id"]]
    assert notice["language"] == "ko" and md5 in notice["body"]

    # four eyes: the drafter's key cannot approve; an admin's can (a second key)
    own = w.client.post(
        f"/v1/notices/{notice['id']}/approve", headers=w.a.headers(Role.ADMIN)
    )  # the admin did not draft it
    assert own.status_code == 200, own.text
    assert own.json()["approved_by"] == w.a.principals[Role.ADMIN].key_id

    # a form-only host is not sent by jikimi: the API says how, and nothing changes
    r = _post(w, f"/v1/notices/{notice['id']}/send", {})
    body = assert_problem(r, 422, "invalid_input")
    assert "mark-sent" in body["detail"]
    assert w.client.get(f"/v1/notices/{notice['id']}", headers=w.a.headers(CW)).json()["state"] == (
        "approved"
    )

    r = _post(w, f"/v1/notices/{notice['id']}/sent", {"note": "submitted on the form"})
    assert r.status_code == 200, r.text
    sent = r.json()
    assert sent["state"] == "sent" and sent["sent_at"] and sent["deadline_at"]

    item = w.client.get(f"/v1/items/{item['id']}", headers=w.a.headers(CW)).json()
    assert item["status"] == "notified" and item["deadline_at"] == sent["deadline_at"]
    assert item["overdue"] is False

    listed = w.client.get("/v1/notices", params={"case": case["id"]}, headers=w.a.headers(REVIEWER))
    assert [n["id"] for n in listed.json()["notices"]] == [notice["id"]]

    r = w.client.get(f"/v1/cases/{case['id']}/history", headers=w.a.headers(REVIEWER))
    assert r.status_code == 200, r.text
    entries = r.json()["entries"]
    actions = [(e["entity"], e["action"]) for e in entries]
    for expected in [
        ("case", "open"),
        ("item", "add"),
        ("notice", "draft"),
        ("notice", "approve"),
        ("notice", "send"),
        ("notice", "sent"),
        ("item", "status"),
    ]:
        assert expected in actions, actions
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs)
    assert all(len(e["digest"]) == 64 for e in entries)
    assert "010-1234-5678" not in r.text

    r = _post(w, f"/v1/cases/{case['id']}/status", {"status": "closed"})
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed_at"]
    closed = w.client.get("/v1/cases", params={"status": "closed"}, headers=w.a.headers(CW))
    assert [c["id"] for c in closed.json()["cases"]] == [case["id"]]


def test_four_eyes_and_bad_input_change_nothing(world: World) -> None:
    w = world
    _host(w, "mailer", [{"kind": "email", "value": "abuse@mailer.example"}], language="xx")
    _host(w, "silent", [])
    case = _post(w, "/v1/cases", {"title": "B"}).json()["case"]

    assert_problem(_post(w, f"/v1/cases/{case['id']}/items", {}), 422, "invalid_input")
    assert_problem(
        _post(w, f"/v1/cases/{case['id']}/items", {"md5": "not-hex"}), 422, "invalid_hash"
    )
    assert_problem(
        _post(w, f"/v1/cases/{case['id']}/items", {"md5": random_hex(32), "host": "nope"}),
        404,
        "not_found",
    )
    assert w.client.get(f"/v1/cases/{case['id']}/items", headers=w.a.headers(CW)).json() == {
        "items": []
    }
    # nothing waits for a notice yet
    assert_problem(
        _post(w, "/v1/notices", {"case": case["id"], "host": "mailer"}), 422, "invalid_input"
    )

    _post(w, f"/v1/cases/{case['id']}/items", {"md5": random_hex(32), "host": "mailer"})
    _post(w, f"/v1/cases/{case['id']}/items", {"md5": random_hex(32), "host": "silent"})
    assert_problem(
        _post(w, "/v1/notices", {"case": case["id"], "host": "silent"}), 422, "invalid_input"
    )

    r = _post(w, "/v1/notices", {"case": case["id"], "host": "mailer"})
    assert r.status_code == 201, r.text
    notice = r.json()
    assert notice["language"] == "en" and notice["language_fallback"] is True

    # not approved yet: cannot be sent
    assert_problem(_post(w, f"/v1/notices/{notice['id']}/send", {}), 409, "conflict")
    # the caseworker who drafted it has no approve permission; an admin who drafts cannot
    # approve her own draft
    assert_problem(_post(w, f"/v1/notices/{notice['id']}/approve", {}), 403, "forbidden")
    own = w.client.post(
        "/v1/notices", json={"case": case["id"], "host": "mailer"}, headers=w.a.headers()
    ).json()
    assert_problem(
        w.client.post(f"/v1/notices/{own['id']}/approve", headers=w.a.headers()), 403, "forbidden"
    )
    r = _post(w, f"/v1/notices/{own['id']}/discard", {})
    assert r.status_code == 200 and r.json()["state"] == "discarded"
    assert_problem(_post(w, f"/v1/notices/{own['id']}/approve", {}, REVIEWER), 409, "conflict")

    r = _post(w, f"/v1/notices/{notice['id']}/approve", {}, REVIEWER)
    assert r.status_code == 200, r.text
    r = _post(w, f"/v1/notices/{notice['id']}/send", {})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "sending" and r.json()["channel"]["kind"] == "email"
    # queued once: a second send is refused while the first is under way
    assert_problem(_post(w, f"/v1/notices/{notice['id']}/send", {}), 409, "conflict")

    # tenant B sees none of it
    other = w.client.get("/v1/notices", headers=w.b.headers(CW)).json()["notices"]
    assert notice["id"] not in {n["id"] for n in other}


def test_reports_overdue_and_the_victims_view(world: World) -> None:
    w = world
    _host(w, "board", [{"kind": "form", "value": "https://board.example/report"}])
    opened = _post(w, "/v1/cases", {"title": "C", "victim_contact": "victim@mail.example"}).json()
    case, pin = opened["case"], opened["pin"]
    md5s = [random_hex(32), random_hex(32)]
    items = [
        _post(
            w,
            f"/v1/cases/{case['id']}/items",
            {"md5": m, "host": "board", "url": f"https://board.example/p/{n}", "source": "@x"},
        ).json()
        for n, m in enumerate(md5s)
    ]
    notice = _post(w, "/v1/notices", {"case": case["id"], "host": "board"}).json()
    assert _post(w, f"/v1/notices/{notice['id']}/approve", {}, REVIEWER).status_code == 200
    assert _post(w, f"/v1/notices/{notice['id']}/sent", {}).status_code == 200
    r = _post(w, f"/v1/items/{items[0]['id']}/status", {"status": "removed", "reason": "host"})
    assert r.status_code == 200 and r.json()["removed_at"], r.text

    period = {"from": "2000-01-01", "to": "2999-12-31"}
    r = w.client.get("/v1/reports", params=period, headers=w.a.headers(REVIEWER))
    assert r.status_code == 200, r.text
    [row] = r.json()["hosts"]
    assert row["host"] == "board" and row["requested"] == 2
    assert (row["removed"], row["still_up"], row["overdue"]) == (1, 1, 0)
    assert row["slowest_hours_to_removal"] is not None
    assert r.json()["total"]["requested"] == 2 and "from" in r.json()
    csv = w.client.get("/v1/reports", params={**period, "format": "csv"}, headers=w.a.headers(CW))
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("host,host_name,requested,removed")
    assert csv.text.splitlines()[1].startswith("board,Board,2,1,1,")
    empty = w.client.get(
        "/v1/reports", params={"from": "2000-01-01", "to": "2000-01-02"}, headers=w.a.headers()
    )
    assert empty.json()["hosts"] == [] and empty.json()["total"]["requested"] == 0
    assert w.client.get("/v1/reports", params=period, headers=w.b.headers()).json()["hosts"] == []

    assert w.client.get("/v1/reports/overdue", headers=w.a.headers(CW)).json()["items"] == []
    reports = w.client.app.state.context.casework.reports  # type: ignore[attr-defined]
    real = reports.clock
    reports.clock = lambda: real() + timedelta(days=3)
    try:
        late = w.client.get("/v1/reports/overdue", headers=w.a.headers(CW)).json()["items"]
        assert [i["id"] for i in late] == [items[1]["id"]]
        r = w.client.get("/v1/reports", params=period, headers=w.a.headers(CW))
        assert r.json()["hosts"][0]["overdue"] == 1
    finally:
        reports.clock = real

    risk = w.client.get(f"/v1/sources/{items[0]['source_id']}", headers=w.a.headers(CW))
    assert risk.status_code == 200, risk.text
    assert risk.json()["handle"] == "@x" and risk.json()["confirmed"] == 2
    assert 0 < risk.json()["score"] <= 1 and risk.json()["reasons"]
    assert_problem(
        w.client.get(f"/v1/sources/{items[0]['source_id']}", headers=w.b.headers()),
        404,
        "not_found",
    )

    # the victim: her case by number + PIN, no key; nothing that identifies content
    r = w.client.post("/v1/status", json={"number": case["number"], "pin": pin})
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["number"] == case["number"] and view["removed"] == 1
    assert view["notices_sent"] == 1 and len(view["items"]) == 2
    assert {i["host"] for i in view["items"]} == {"Board"}
    for secret in (*md5s, "board.example/p", "victim@mail.example", case["id"]):
        assert secret not in r.text

    wrong = w.client.post("/v1/status", json={"number": case["number"], "pin": "000000x"})
    unknown = w.client.post("/v1/status", json={"number": "ZZ-0000-0000", "pin": pin})
    a, b = assert_problem(wrong, 404, "not_found"), assert_problem(unknown, 404, "not_found")
    assert a["detail"] == b["detail"]  # no hint which one was wrong
    for _ in range(3):
        w.client.post("/v1/status", json={"number": case["number"], "pin": "1"})
    # five failures from this client: even the right PIN waits now
    assert_problem(
        w.client.post("/v1/status", json={"number": case["number"], "pin": pin}),
        429,
        "too_many_attempts",
    )


def test_audit_verify_over_http(world: World) -> None:
    w = world
    _post(w, "/v1/cases", {"title": "audited"})
    r = w.client.get("/v1/audit/verify", headers=w.a.headers(REVIEWER))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True and body["checked"] >= 1 and body["head_seq"] == body["checked"]
    again = w.client.get(
        "/v1/audit/verify",
        params={"seq": body["head_seq"], "digest": body["head_digest"]},
        headers=w.a.headers(),
    )
    assert again.json()["ok"] is True
    bad = w.client.get(
        "/v1/audit/verify",
        params={"seq": body["head_seq"], "digest": "0" * 64},
        headers=w.a.headers(),
    )
    assert bad.json()["ok"] is False and bad.json()["reason"]
    assert_problem(w.client.get("/v1/audit/verify", headers=w.a.headers(CW)), 403, "forbidden")

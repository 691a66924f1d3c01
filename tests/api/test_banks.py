"""Banks and entries over HTTP: CRUD, pagination, status changes, import and export."""

from __future__ import annotations

import csv
import io
import json

from api_helpers import World, assert_problem, create_bank, jpeg, random_hex

from jikimi.domain import Role


def test_bank_crud(sqlite_world: World) -> None:
    c, h = sqlite_world.client, sqlite_world.a.headers()
    body = {"name": "CRUD_BANK", "kind": "watch", "pdq_threshold": 20, "labels": ["ncii"]}
    created = c.post("/v1/banks", json=body, headers=h)
    assert created.status_code == 201
    bank = created.json()
    assert (bank["kind"], bank["pdq_threshold"], bank["labels"]) == ("watch", 20, ["ncii"])
    assert "tenant_id" not in bank
    assert c.get("/v1/banks/CRUD_BANK", headers=h).json() == bank

    patched = c.patch("/v1/banks/CRUD_BANK", json={"enabled": False, "dihedral": True}, headers=h)
    assert patched.status_code == 200
    assert (patched.json()["enabled"], patched.json()["dihedral"]) == (False, True)
    assert patched.json()["pdq_threshold"] == 20  # untouched fields stay

    assert c.delete("/v1/banks/CRUD_BANK", headers=h).status_code == 204
    assert_problem(c.get("/v1/banks/CRUD_BANK", headers=h), 404, "not_found")
    names = [b["name"] for b in c.get("/v1/banks", headers=h).json()["banks"]]
    assert "CRUD_BANK" not in names and sqlite_world.a.bank in names


def test_entries_by_hash_pagination_and_status(sqlite_world: World) -> None:
    c, h = sqlite_world.client, sqlite_world.a.headers()
    assert (
        c.post("/v1/banks", json={"name": "PAGED", "kind": "takedown"}, headers=h).status_code
        == 201
    )
    values = [random_hex(32) for _ in range(7)]
    ids = []
    for v in values:
        r = c.post(
            "/v1/banks/PAGED/entries",
            json={"signal": "md5", "value": v.upper(), "source": "test", "metadata": {"n": 1}},
            headers=h,
        )
        assert r.status_code == 201, r.text
        assert r.json()["value"] == v  # canonical lowercase
        ids.append(r.json()["id"])

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = c.get("/v1/banks/PAGED/entries", params=params, headers=h).json()
        seen += [e["id"] for e in page["entries"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3

    url = f"/v1/banks/PAGED/entries/{ids[0]}"
    assert c.patch(url, json={"status": "disabled"}, headers=h).json()["status"] == "disabled"
    disabled = c.get("/v1/banks/PAGED/entries", params={"status": "disabled"}, headers=h).json()
    assert [e["id"] for e in disabled["entries"]] == [ids[0]]
    assert c.patch(url, json={"status": "active"}, headers=h).json()["status"] == "active"
    r = c.patch(url, json={"status": "withdrawn"}, headers=h)  # withdrawal has its own verb
    assert_problem(r, 422, "validation_error")
    assert_problem(
        c.get("/v1/banks/PAGED/entries", params={"cursor": "garbage!"}, headers=h),
        422,
        "invalid_input",
    )


def test_withdrawn_entry_is_gone_for_good(sqlite_world: World) -> None:
    c, h = sqlite_world.client, sqlite_world.a.headers()
    value = random_hex(64)
    entry = c.post(
        f"/v1/banks/{sqlite_world.a.bank}/entries",
        json={"signal": "pdq", "value": value},
        headers=h,
    ).json()
    url = f"/v1/banks/{sqlite_world.a.bank}/entries/{entry['id']}"

    r = c.post(f"{url}/withdraw", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert_problem(c.get(url, headers=h), 404, "not_found")
    assert_problem(c.post(f"{url}/withdraw", headers=h), 404, "not_found")
    assert_problem(c.patch(url, json={"status": "active"}, headers=h), 404, "not_found")
    listed = c.get(f"/v1/banks/{sqlite_world.a.bank}/entries", params={"limit": 1000}, headers=h)
    assert entry["id"] not in {e["id"] for e in listed.json()["entries"]}
    exported = c.get(f"/v1/banks/{sqlite_world.a.bank}/export", headers=h).text
    assert value not in exported
    again = c.post(
        f"/v1/banks/{sqlite_world.a.bank}/entries",
        json={"signal": "pdq", "value": value},
        headers=h,
    )
    assert_problem(again, 409, "conflict")


def test_media_entry_is_hashed_and_form_fields_checked(sqlite_world: World) -> None:
    c, h = sqlite_world.client, sqlite_world.a.headers()
    bank = sqlite_world.a.bank
    r = c.post(
        f"/v1/banks/{bank}/entries",
        files={"file": ("x.jpg", jpeg(77))},
        data={"note": "reported 2026-01-01", "metadata": '{"case": "c-1"}'},
        headers=h,
    )
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["signal"] == "pdq" and len(entry["value"]) == 64
    assert entry["note"] == "reported 2026-01-01" and entry["metadata"] == {"case": "c-1"}
    assert entry["media_sha256"] is not None

    r = c.post(
        f"/v1/banks/{bank}/entries",
        files={"file": ("x.jpg", jpeg(78))},
        data={"notes": "typo"},
        headers=h,
    )
    assert_problem(r, 422, "validation_error")
    r = c.post(
        f"/v1/banks/{bank}/entries",
        files={"file": ("x.jpg", jpeg(79))},
        data={"metadata": "[1, 2]"},
        headers=h,
    )
    assert_problem(r, 422, "validation_error")
    r = c.post(f"/v1/banks/{bank}/entries", files={"file": ("x.txt", b"hello")}, headers=h)
    assert_problem(r, 422, "unsupported_media")


def test_import_reports_bad_rows_and_keeps_the_rest(sqlite_world: World) -> None:
    c, h = sqlite_world.client, sqlite_world.a.headers()
    assert (
        c.post("/v1/banks", json={"name": "IMPORTED", "kind": "watch"}, headers=h).status_code
        == 201
    )
    good = [random_hex(64) for _ in range(3)]
    text = (
        "signal_type,signal_value,metadata\n"
        f"pdq,{good[0]},\n"
        "pdq,not-hex-at-all,\n"
        f'pdq,{good[1]},"{{""source"": ""kcsc""}}"\n'
        "video_md5,d41d8cd98f00b204e9800998ecf8427e,\n"
        f"pdq,{good[2]},\n"
        f"pdq,{good[0]},\n"
    )
    r = c.post("/v1/banks/IMPORTED/import", files={"file": ("rows.csv", text.encode())}, headers=h)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["rows"], report["added"], report["duplicates"], report["error_count"]) == (
        6,
        3,
        1,
        2,
    )
    assert [(e["line"], e["code"]) for e in report["errors"]] == [
        (3, "invalid_hash"),
        (5, "unknown_signal_type"),
    ]

    exported = c.get("/v1/banks/IMPORTED/export", params={"format": "csv"}, headers=h)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(r["signal_value"] for r in rows) == sorted(good)
    meta = {r["signal_value"]: r["metadata"] for r in rows}
    assert json.loads(meta[good[1]]) == {"source": "kcsc"}

    as_json = c.get("/v1/banks/IMPORTED/export", params={"format": "json"}, headers=h).json()
    assert sorted(o["signal_value"] for o in as_json) == sorted(good)

    # the JSON export imports back into another bank unchanged
    create_bank(c, h, "COPY", "watch")
    back = c.post(
        "/v1/banks/COPY/import",
        files={"file": ("x.json", json.dumps(as_json).encode())},
        headers=h,
    ).json()
    assert (back["added"], back["error_count"]) == (3, 0)


def test_import_format_field_and_bad_format(sqlite_world: World) -> None:
    c, h = sqlite_world.client, sqlite_world.a.headers()
    bank = sqlite_world.a.bank
    line = json.dumps({"signal_type": "md5", "signal_value": random_hex(32)})
    r = c.post(
        f"/v1/banks/{bank}/import",
        files={"file": ("upload.bin", line.encode())},
        data={"format": "jsonl"},
        headers=h,
    )
    assert r.json()["added"] == 1
    r = c.post(
        f"/v1/banks/{bank}/import",
        files={"file": ("x.csv", b"pdq,00\n")},
        data={"format": "xml"},
        headers=h,
    )
    assert_problem(r, 422, "validation_error")


def test_other_tenant_and_read_only_roles_change_nothing(sqlite_world: World) -> None:
    c, a, b = sqlite_world.client, sqlite_world.a, sqlite_world.b
    before = c.get(f"/v1/banks/{a.bank}", headers=a.headers()).json()
    csv_rows = f"pdq,{random_hex(64)}\n".encode()
    r = c.post(
        f"/v1/banks/{a.bank}/import", files={"file": ("x.csv", csv_rows)}, headers=b.headers()
    )
    assert_problem(r, 404, "not_found")
    r = c.post(
        f"/v1/banks/{a.bank}/import",
        files={"file": ("x.csv", csv_rows)},
        headers=a.headers(Role.REVIEWER),
    )
    assert_problem(r, 403, "forbidden")
    assert c.get(f"/v1/banks/{a.bank}", headers=a.headers()).json() == before


def test_sharing_makes_a_bank_visible_read_only(sqlite_world: World) -> None:
    c, a, b = sqlite_world.client, sqlite_world.a, sqlite_world.b
    assert (
        c.post(
            "/v1/banks", json={"name": "SHARED", "kind": "watch"}, headers=a.headers()
        ).status_code
        == 201
    )
    assert_problem(c.get("/v1/banks/SHARED", headers=b.headers()), 404, "not_found")
    shared = c.post("/v1/banks/SHARED/shares", json={"tenant": b.name}, headers=a.headers())
    assert shared.json()["shared_with"] == [b.tenant_id]
    assert c.get("/v1/banks/SHARED", headers=b.headers()).status_code == 200
    r = c.post(
        "/v1/banks/SHARED/entries",
        json={"signal": "md5", "value": random_hex(32)},
        headers=b.headers(),
    )
    assert_problem(r, 403, "forbidden")
    c.delete(f"/v1/banks/SHARED/shares/{b.name}", headers=a.headers())
    assert_problem(c.get("/v1/banks/SHARED", headers=b.headers()), 404, "not_found")

"""vPDQ rows over HTTP: a CSV in ThreatExchange's form imports, matches and exports back."""

from __future__ import annotations

import csv
import io
import json
import secrets

from api_helpers import World, create_bank


def test_a_video_in_threatexchange_form_imports_matches_and_exports(sqlite_world: World) -> None:
    c, h = sqlite_world.client, sqlite_world.a.headers()
    create_bank(c, h, "VIDEOS", "takedown")
    hashes = [secrets.token_hex(32) for _ in range(6)]
    video = json.dumps([f"{p},100,{i}.000" for i, p in enumerate(hashes)])
    pdq = secrets.token_hex(32)
    upload = io.StringIO()
    writer = csv.writer(upload)
    writer.writerows(
        [
            ("signal_type", "signal_value", "metadata"),
            ("vpdq", video, '{"case": "C-3"}'),
            ("vpdq", json.dumps([f"{hashes[0]},100,-1.0"]), ""),
            ("pdq", pdq, ""),
        ]
    )
    r = c.post(
        "/v1/banks/VIDEOS/import",
        files={"file": ("videos.csv", upload.getvalue().encode())},
        headers=h,
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["rows"], report["added"], report["error_count"]) == (3, 2, 1)
    [error] = report["errors"]
    assert (error["line"], error["code"]) == (3, "invalid_hash")
    assert "vPDQ element 1: the timestamp" in error["message"]

    # Half the video, in either form, matches it.
    half = "".join(f"{i},100,{p},{i}.000\n" for i, p in enumerate(hashes[:3]))
    for value in (half, json.dumps(json.loads(video)[:3])):
        r = c.post("/v1/match", json={"hashes": [{"type": "vpdq", "value": value}]}, headers=h)
        assert r.status_code == 200, r.text
        assert {m["bank"] for m in r.json()["results"][0]["matches"]} == {"VIDEOS"}

    exported = c.get("/v1/banks/VIDEOS/export", params={"format": "csv"}, headers=h)
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["signal_type"], r["signal_value"]) for r in rows] == [("vpdq", video), ("pdq", pdq)]
    assert json.loads(rows[0]["metadata"]) == {"case": "C-3"}

"""``POST /v1/scan?uploader=…``: a platform's scans build up its uploader's standing.

On both databases: three uploads by one uploader that match the tenant's takedown
bank are removed; the fourth upload by that uploader (an image that matches
nothing) is held by the bundled ``risky-source`` rule, and the Verdict names the
rule and the source. Another uploader, and the same uploader id in another tenant,
are untouched. ``GET /v1/sources/{id}`` counts the scans with their reasons, for
the platform's own key as for a caseworker.
"""

from __future__ import annotations

from api_helpers import World, assert_problem, jpeg

from jikimi.domain import Role


def _scan(w: World, data: bytes, headers: dict[str, str], **params: str) -> dict[str, object]:
    r = w.client.post("/v1/scan", files={"file": ("x.jpg", data)}, params=params, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_an_uploader_with_three_removed_uploads_is_held(world: World) -> None:
    w = world
    platform = w.a.headers(Role.PLATFORM)
    innocent = jpeg(4242)
    before = _scan(w, innocent, platform, uploader="u-77")
    assert "risky-source" not in before["decision"]["rules"]  # type: ignore[index]
    for _ in range(3):
        v = _scan(w, w.a.image, platform, uploader="u-77")
        assert v["decision"]["action"] == "remove"  # type: ignore[index]
        assert "takedown-match" in v["decision"]["rules"]  # type: ignore[index]
    after = _scan(w, innocent, platform, uploader="u-77")
    decision = after["decision"]
    assert decision["action"] == "hold"  # type: ignore[index]
    assert "risky-source" in decision["rules"]  # type: ignore[index]
    assert any("u-77 (3 confirmed" in r for r in decision["reasons"])  # type: ignore[index]
    source = after["source"]
    assert source["uploader"] == "u-77"  # type: ignore[index]
    source_id = source["source_id"]  # type: ignore[index]
    assert source_id == before["source"]["source_id"]  # type: ignore[index]

    # a multipart field works as well as the query; another uploader is not held
    r = w.client.post(
        "/v1/scan",
        files={"file": ("x.jpg", innocent)},
        data={"uploader": "u-other"},
        headers=platform,
    )
    assert r.status_code == 200, r.text
    assert "risky-source" not in r.json()["decision"]["rules"]
    assert r.json()["source"]["uploader"] == "u-other"
    # the same uploader id in the other tenant is another source
    other = _scan(w, innocent, w.b.headers(Role.PLATFORM), uploader="u-77")
    assert "risky-source" not in other["decision"]["rules"]  # type: ignore[index]
    assert other["source"]["source_id"] != source_id  # type: ignore[index]

    risk = w.client.get(f"/v1/sources/{source_id}", headers=w.a.headers(Role.CASEWORKER))
    assert risk.status_code == 200, risk.text
    body = risk.json()
    assert body["handle"] == "u-77"
    assert body["scans"] == 5
    assert body["scans_flagged"] == 4  # three removed, one held
    assert body["confirmed"] == 3
    assert body["score"] == 0.7  # 3 confirmed (0.6) + 1 held (0.1)
    assert any("removed on a bank match" in r for r in body["reasons"])
    assert any("held for review" in r for r in body["reasons"])
    assert w.client.get(f"/v1/sources/{source_id}", headers=w.b.headers()).status_code == 404
    # the platform that scanned reads its own uploader's standing; another's platform cannot
    mine = w.client.get(f"/v1/sources/{source_id}", headers=platform)
    assert mine.status_code == 200, mine.text
    assert mine.json() == body
    theirs = w.client.get(f"/v1/sources/{source_id}", headers=w.b.headers(Role.PLATFORM))
    assert theirs.status_code == 404


def test_a_bad_uploader_id_is_refused_and_nothing_is_stored(world: World) -> None:
    w = world
    platform = w.a.headers(Role.PLATFORM)
    r = w.client.post(
        "/v1/scan",
        files={"file": ("x.jpg", jpeg(9))},
        data={"uploader": "bad\x00id"},
        headers=platform,
    )
    assert_problem(r, 422, "validation_error")
    r = w.client.post(
        "/v1/scan", files={"file": ("x.jpg", jpeg(9))}, params={"uploader": "x" * 501},
        headers=platform,
    )  # fmt: skip
    assert_problem(r, 422, "validation_error")

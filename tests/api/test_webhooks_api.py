"""``/v1/webhook``: set through the API as through ``jikimi webhook``; the secret
is shown once, validated like the CLI's, and removing it is final."""

from __future__ import annotations

from api_helpers import World, assert_problem


def test_set_show_replace_remove(sqlite_world: World) -> None:
    c, headers = sqlite_world.client, sqlite_world.a.headers()
    r = c.put("/v1/webhook", json={"url": "https://hooks.example/a"}, headers=headers)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["webhook"]["events"] == ["bank.matched", "scan.held"]
    assert len(first["secret"]) >= 32

    shown = c.get("/v1/webhook", headers=headers)
    assert shown.json()["url"] == "https://hooks.example/a" and shown.json()["enabled"]
    assert first["secret"] not in shown.text

    body = {"url": "https://hooks.example/b", "events": ["scan.held"]}
    again = c.put("/v1/webhook", json=body, headers=headers).json()
    assert again["secret"] != first["secret"]  # a new secret with every set
    assert c.get("/v1/webhook", headers=headers).json()["events"] == ["scan.held"]

    assert c.delete("/v1/webhook", headers=headers).status_code == 204
    assert_problem(c.get("/v1/webhook", headers=headers), 404, "not_found")
    assert_problem(c.delete("/v1/webhook", headers=headers), 404, "not_found")


def test_bad_urls_and_events_are_refused(sqlite_world: World) -> None:
    c, headers = sqlite_world.client, sqlite_world.b.headers()
    for body in (
        {"url": "ftp://hooks.example/x"},
        {"url": "https://hooks.example/x", "events": ["scan.deleted"]},
        {"url": "https://hooks.example/x", "events": []},
        {"url": "https://hooks.example/x", "secret": "chosen by me"},
    ):
        r = c.put("/v1/webhook", json=body, headers=headers)
        assert r.status_code == 422, (body, r.text)
    assert_problem(c.get("/v1/webhook", headers=headers), 404, "not_found")

"""``POST /v1/match``: hashes in, matches of the caller's visible banks out."""

from __future__ import annotations

from api_helpers import World, assert_problem, random_hex

from jikimi.domain import Role


def _match(world: World, headers: dict[str, str], *values: str) -> list[list[dict[str, object]]]:
    body = {"hashes": [{"type": "pdq", "value": v} for v in values]}
    r = world.client.post("/v1/match", json=body, headers=headers)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["value"] for x in results] == list(values)
    return [x["matches"] for x in results]


def test_answers_one_result_per_hash_in_order(sqlite_world: World) -> None:
    values = [random_hex(64) for _ in range(50)]
    assert _match(sqlite_world, sqlite_world.a.headers(), *values) == [[] for _ in values]


def test_uppercase_hashes_are_canonicalised(sqlite_world: World) -> None:
    value = random_hex(64)
    body = {"hashes": [{"type": "pdq", "value": value.upper()}]}
    r = sqlite_world.client.post("/v1/match", json=body, headers=sqlite_world.a.headers())
    assert r.json()["results"][0]["value"] == value


def test_roles_that_may_not_match(sqlite_world: World) -> None:
    body = {"hashes": [{"type": "pdq", "value": random_hex(64)}]}
    for role in (Role.REVIEWER, Role.CASEWORKER):
        r = sqlite_world.client.post("/v1/match", json=body, headers=sqlite_world.a.headers(role))
        assert_problem(r, 403, "forbidden")


def test_finds_own_entries_only(sqlite_world: World) -> None:
    a, b = sqlite_world.a, sqlite_world.b
    [own] = _match(sqlite_world, a.headers(Role.PLATFORM), a.entry_value)
    assert [(m["bank"], m["entry"], m["distance"]) for m in own] == [(a.bank, a.entry_id, 0)]
    assert _match(sqlite_world, b.headers(Role.PLATFORM), a.entry_value) == [[]]


def test_withdrawn_hash_stops_matching_at_once(sqlite_world: World) -> None:
    c, h = sqlite_world.client, sqlite_world.a.headers()
    value = random_hex(64)
    add = {"signal": "pdq", "value": value}
    entry = c.post(f"/v1/banks/{sqlite_world.a.bank}/entries", json=add, headers=h).json()
    assert [m["entry"] for m in _match(sqlite_world, h, value)[0]] == [entry["id"]]
    c.post(f"/v1/banks/{sqlite_world.a.bank}/entries/{entry['id']}/withdraw", headers=h)
    assert _match(sqlite_world, h, value) == [[]]

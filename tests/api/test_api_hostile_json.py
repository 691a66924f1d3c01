"""JSON nested too deeply for Python's parser is bad input (422 or one bad row), never a 500.

``json.loads`` raises RecursionError, not JSONDecodeError, for ``[[[[…`` a hundred
thousand deep: every place that decodes JSON a user sent must treat it as invalid.
"""

from __future__ import annotations

import io
import json

from api_helpers import World, assert_problem, random_hex

from jikimi.domain import Role

DEEP = "[" * 100_000


def _import(world: World, name: str, body: str) -> dict[str, object]:
    a = world.a
    r = world.client.post(
        f"/v1/banks/{a.bank}/import",
        files={"file": (name, io.BytesIO(body.encode()))},
        headers=a.headers(Role.CURATOR),
    )
    assert r.status_code == 200, r.text
    report: dict[str, object] = r.json()
    return report


def test_a_deep_vpdq_value_is_a_422(sqlite_world: World) -> None:
    a = sqlite_world.a
    r = sqlite_world.client.post(
        f"/v1/banks/{a.bank}/entries", json={"signal": "vpdq", "value": DEEP}, headers=a.headers()
    )
    problem = assert_problem(r, 422, "validation_error")
    assert "nested too deeply" in problem["detail"]
    r = sqlite_world.client.post(
        "/v1/match", json={"hashes": [{"type": "vpdq", "value": DEEP}]}, headers=a.headers()
    )
    assert r.status_code == 422, r.text


def test_deep_multipart_metadata_is_a_422(sqlite_world: World) -> None:
    a = sqlite_world.a
    r = sqlite_world.client.post(
        f"/v1/banks/{a.bank}/entries",
        files={"file": ("x.vpdq.txt", f"0,90,{random_hex(64)},0.000\n".encode())},
        data={"signal": "vpdq", "metadata": DEEP},
        headers=a.headers(),
    )
    assert_problem(r, 422, "validation_error")


def test_a_deep_request_body_is_refused_cleanly(sqlite_world: World) -> None:
    a = sqlite_world.a
    for path in ("/v1/match", f"/v1/banks/{a.bank}/entries", "/v1/banks"):
        r = sqlite_world.client.post(
            path, content=DEEP, headers={**a.headers(), "content-type": "application/json"}
        )
        assert r.status_code in (400, 422), (path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_deep_rows_are_row_errors_and_the_rest_imports(sqlite_world: World) -> None:
    pdq = [random_hex(64) for _ in range(4)]
    jsonl = f'{{"signal_type":"pdq","signal_value":"{pdq[0]}"}}\n{DEEP}\n'
    jsonl += f'{{"signal_type":"pdq","signal_value":"{pdq[1]}"}}\n'
    report = _import(sqlite_world, "rows.jsonl", jsonl)
    assert (report["added"], report["error_count"]) == (2, 1), report
    assert "nested too deeply" in str(report["errors"])

    csv = f'signal_type,signal_value,metadata\npdq,{pdq[2]},"{DEEP}"\npdq,{pdq[3]},\n'
    report = _import(sqlite_world, "rows.csv", csv)
    assert (report["added"], report["error_count"]) == (1, 1), report

    vpdq = f'signal_type,signal_value,metadata\nvpdq,"{DEEP}",\npdq,{random_hex(64)},\n'
    report = _import(sqlite_world, "videos.csv", vpdq)
    assert (report["added"], report["error_count"]) == (1, 1), report
    assert "invalid_hash" in str(report["errors"])


def test_a_deep_json_array_element_ends_the_file_after_the_good_rows(sqlite_world: World) -> None:
    good = random_hex(64)
    body = f'[{{"signal_type":"pdq","signal_value":"{good}"}},{DEEP}'
    report = _import(sqlite_world, "rows.json", body)
    assert (report["added"], report["error_count"]) == (1, 1), report


def _nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth - 1):
        value = [value]
    return {"a": value}


def test_metadata_deeper_than_32_levels_is_refused_and_shallower_is_shown_again(
    sqlite_world: World,
) -> None:
    """Pydantic cannot serialise past ~250 levels: such metadata used to be stored, and
    then every listing of the bank failed with a 500."""
    a = sqlite_world.a
    url = f"/v1/banks/{a.bank}/entries"
    for depth in (33, 300):
        r = sqlite_world.client.post(
            url, json={"signal": "md5", "value": random_hex(32), "metadata": _nested(depth)},
            headers=a.headers(),
        )  # fmt: skip
        problem = assert_problem(r, 422, "invalid_input")
        assert "nested more than 32 levels" in problem["detail"]
    ok = sqlite_world.client.post(
        url, json={"signal": "md5", "value": random_hex(32), "metadata": _nested(32)},
        headers=a.headers(),
    )  # fmt: skip
    assert ok.status_code == 201, ok.text
    listing = sqlite_world.client.get(url, headers=a.headers())
    assert listing.status_code == 200, listing.text

    deep = json.dumps(_nested(300)).replace('"', '""')
    body = f'signal_type,signal_value,metadata\nmd5,{random_hex(32)},"{deep}"\n'
    report = _import(sqlite_world, "rows.csv", body)
    assert (report["added"], report["error_count"]) == (0, 1), report
    assert "bad_metadata" in str(report["errors"])

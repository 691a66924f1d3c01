"""Videos through ``POST /v1/banks/{name}/entries``: media uploads and vPDQ hash files.

Videos are made per test with PyAV from random coloured blocks (a new picture each
second), so every hashed frame differs and nothing is a picture of anyone.
"""

from __future__ import annotations

import hashlib
import io
import json

import av
import numpy as np
from api_helpers import World, assert_problem

from jikimi.domain import Role
from jikimi.media.video import VideoLimits, load_video
from jikimi.signals.vpdq import format_vpdq, hash_video, parse_vpdq

FPS = 10


def mp4(seed: int, seconds: int = 3) -> bytes:
    """Random 8 x 8 block pictures (128 x 96), a new one each second."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for _ in range(seconds):
            blocks = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
            picture = np.kron(blocks, np.ones((16, 16, 1), dtype=np.uint8))
            for _ in range(FPS):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode(None))
    return buf.getvalue()


def vpdq_text(data: bytes) -> str:
    return format_vpdq(hash_video(load_video(data, VideoLimits())).frames)


def identity(text: str) -> str:
    """A video entry's value: the SHA-256 of its frames in ThreatExchange's JSON form
    (frame order, no frame numbers)."""
    frames = sorted(parse_vpdq(text), key=lambda f: f.frame)
    form = json.dumps([f"{f.pdq},{f.quality},{f.t_s:.3f}" for f in frames])
    return hashlib.sha256(form.encode()).hexdigest()


def test_a_video_upload_and_its_hash_file_are_one_entry(world: World) -> None:
    c, a = world.client, world.a
    url = f"/v1/banks/{a.bank}/entries"
    data = mp4(seed=1)
    text = vpdq_text(data)
    r = c.post(url, files={"file": ("clip.mp4", data)}, data={"note": "n"}, headers=a.headers())
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["signal"] == "vpdq" and entry["note"] == "n"
    assert entry["value"] == identity(text)
    assert entry["media_sha256"] == hashlib.sha256(data).hexdigest()
    assert c.get(f"{url}/{entry['id']}", headers=a.headers()).json() == entry
    # The same video as a hash file (multipart signal=vpdq) or as JSON: already there.
    again = c.post(
        url,
        files={"file": ("clip.vpdq.txt", text.encode())},
        data={"signal": "vpdq"},
        headers=a.headers(),
    )
    assert assert_problem(again, 409, "conflict")["detail"].endswith(entry["id"])
    as_json = c.post(url, json={"signal": "vpdq", "value": text}, headers=a.headers())
    assert_problem(as_json, 409, "conflict")
    # Another tenant's curator cannot add to it; a reviewer cannot add at all.
    b = world.other(a)
    r = c.post(url, files={"file": ("clip.mp4", data)}, headers=b.headers(Role.CURATOR))
    assert_problem(r, 404, "not_found")
    r = c.post(url, files={"file": ("clip.mp4", data)}, headers=a.headers(Role.REVIEWER))
    assert_problem(r, 403, "forbidden")


def test_a_vpdq_hash_file_upload(sqlite_world: World) -> None:
    world = sqlite_world
    c, a = world.client, world.a
    url = f"/v1/banks/{a.bank}/entries"
    text = vpdq_text(mp4(seed=2))
    r = c.post(
        url,
        files={"file": ("x.txt", ("\ufeff" + text.replace("\n", "\r\n")).encode())},
        data={"signal": "vpdq", "source": "exchange"},
        headers=a.headers(Role.CURATOR),
    )
    assert r.status_code == 201, r.text
    entry = r.json()
    assert (entry["signal"], entry["source"], entry["media_sha256"]) == ("vpdq", "exchange", None)
    assert entry["value"] == identity(text)
    # The JSON door takes the file's text as the value.
    other = vpdq_text(mp4(seed=3))
    r = c.post(url, json={"signal": "vpdq", "value": other}, headers=a.headers())
    assert r.status_code == 201, r.text
    assert r.json()["value"] == identity(other)


def test_bad_vpdq_uploads_name_the_problem(sqlite_world: World) -> None:
    world = sqlite_world
    c, a = world.client, world.a
    url, h = f"/v1/banks/{a.bank}/entries", world.a.headers()
    good = f"0,100,{'a' * 64},0.000\n"

    def upload(content: bytes, signal: str = "vpdq") -> object:
        return c.post(url, files={"file": ("x.txt", content)}, data={"signal": signal}, headers=h)

    body = assert_problem(upload((good + "30,100,xyz,1.000\n").encode()), 422, "invalid_hash")
    assert "line 2" in body["detail"]
    assert_problem(upload(b"\xff\xfe not utf-8"), 422, "invalid_hash")
    assert_problem(upload(good.encode(), signal="pdq"), 422, "validation_error")
    low = f"0,10,{'a' * 64},0.000\n".encode()
    assert "never match" in assert_problem(upload(low), 422, "invalid_input")["detail"]
    # A hash file sent as media: refused, with the way to send it.
    r = c.post(url, files={"file": ("x.txt", good.encode())}, headers=h)
    assert "vpdq" in assert_problem(r, 422, "unsupported_media")["detail"]
    r = c.post(url, json={"signal": "vpdq", "value": "0,100,abc,0.0"}, headers=h)
    body = assert_problem(r, 422, "validation_error")
    assert body["errors"][0]["loc"] == "body.value" and "line 1" in body["errors"][0]["message"]


def test_banks_carry_their_vpdq_shares(sqlite_world: World) -> None:
    world = sqlite_world
    c, h = world.client, world.a.headers()
    r = c.post("/v1/banks", json={"name": "CLIPS", "kind": "watch"}, headers=h)
    assert r.status_code == 201, r.text
    assert (r.json()["vpdq_query_pct"], r.json()["vpdq_index_pct"]) == (80, 0)
    r = c.post(
        "/v1/banks",
        json={"name": "WHOLE", "kind": "watch", "vpdq_query_pct": 90, "vpdq_index_pct": 70},
        headers=h,
    )
    assert (r.json()["vpdq_query_pct"], r.json()["vpdq_index_pct"]) == (90, 70)
    r = c.patch("/v1/banks/WHOLE", json={"vpdq_index_pct": 50}, headers=h)
    assert r.status_code == 200 and r.json()["vpdq_index_pct"] == 50
    assert c.get("/v1/banks/WHOLE", headers=h).json()["vpdq_query_pct"] == 90
    bad = c.patch("/v1/banks/WHOLE", json={"vpdq_query_pct": 101}, headers=h)
    assert assert_problem(bad, 422, "validation_error")["errors"][0]["loc"] == "body.vpdq_query_pct"


def test_the_openapi_document_describes_the_vpdq_upload(sqlite_world: World) -> None:
    world = sqlite_world
    spec = world.client.get("/openapi.json").json()
    post = spec["paths"]["/v1/banks/{name}/entries"]["post"]
    form = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["signal"]["enum"] == ["vpdq"]
    assert "vPDQ hash file" in post["description"]


def test_a_banked_video_matches_its_clips_under_the_bank_shares(sqlite_world: World) -> None:
    """End to end: upload a video to two banks, then match the vPDQ of a clip of it."""
    c, h = sqlite_world.client, sqlite_world.a.headers()
    for name, index_pct in (("CLIP_OK", 0), ("WHOLE_ONLY", 70)):
        body = {"name": name, "kind": "watch", "vpdq_index_pct": index_pct}
        assert c.post("/v1/banks", json=body, headers=h).status_code == 201
    data = mp4(seed=21, seconds=6)
    for name in ("CLIP_OK", "WHOLE_ONLY"):
        r = c.post(f"/v1/banks/{name}/entries", files={"file": ("v.mp4", data)}, headers=h)
        assert r.status_code == 201, r.text
    lines = vpdq_text(data).splitlines(keepends=True)
    assert len(lines) == 6

    def banks_matching(text: str) -> set[str]:
        r = c.post("/v1/match", json={"hashes": [{"type": "vpdq", "value": text}]}, headers=h)
        assert r.status_code == 200, r.text
        return {m["bank"] for m in r.json()["results"][0]["matches"]}

    assert banks_matching("".join(lines[:3])) == {"CLIP_OK"}  # half the banked video
    assert banks_matching("".join(lines[1:6])) == {"CLIP_OK", "WHOLE_ONLY"}  # 5 of 6 frames
    assert banks_matching(vpdq_text(mp4(seed=22, seconds=6))) == set()


def test_a_video_match_reports_both_shares(sqlite_world: World) -> None:
    """A moderator sees how much of the upload, and of the banked video, matched."""
    c, h = sqlite_world.client, sqlite_world.a.headers()
    assert c.post("/v1/banks", json={"name": "SHARES", "kind": "watch"}, headers=h)
    data = mp4(seed=31, seconds=6)
    r = c.post("/v1/banks/SHARES/entries", files={"file": ("v.mp4", data)}, headers=h)
    assert r.status_code == 201, r.text
    clip = "".join(vpdq_text(data).splitlines(keepends=True)[:3])
    r = c.post("/v1/match", json={"hashes": [{"type": "vpdq", "value": clip}]}, headers=h)
    [match] = [m for m in r.json()["results"][0]["matches"] if m["bank"] == "SHARES"]
    assert (match["query_share"], match["index_share"], match["distance"]) == (1.0, 0.5, 0)

"""Upload filenames as clients really send them: raw multipart bodies, built by hand.

A filename that is not UTF-8 used to come back as Latin-1 mojibake, and control
characters were stored as sent. Now ``source.filename`` is normalised (UTF-8 or
U+FFFD, no control characters, NFC) and ``source.filename_raw`` keeps the bytes
as sent whenever that changed them; an ordinary name has no extra field. The
stored scan (both database backends) and a scan job keep the same source.
"""

from __future__ import annotations

import unicodedata

import pytest
from api_helpers import SAMPLES, World, assert_problem

PHOTO = (SAMPLES / "coffee.jpg").read_bytes()
BOUNDARY = b"jikimi-test-boundary-7d3f"


def multipart(disposition: bytes, data: bytes = PHOTO) -> tuple[bytes, dict[str, str]]:
    """One part, its Content-Disposition header exactly as given."""
    body = b"".join(
        [
            b"--" + BOUNDARY + b"\r\n",
            b"Content-Disposition: " + disposition + b"\r\n",
            b"Content-Type: image/jpeg\r\n\r\n",
            data,
            b"\r\n--" + BOUNDARY + b"--\r\n",
        ]
    )
    return body, {"content-type": f"multipart/form-data; boundary={BOUNDARY.decode()}"}


def file_part(filename: bytes) -> bytes:
    return b'form-data; name="file"; filename="' + filename + b'"'


NFD = unicodedata.normalize("NFD", "café.jpg").encode()

CASES = [
    # (raw filename bytes in the header, expected source)
    (b"coffee.jpg", {"filename": "coffee.jpg"}),
    ("사진.jpg".encode(), {"filename": "사진.jpg"}),
    ("사진.jpg".encode("euc-kr"), {"filename": "\ufffd\ufffd\ufffd\ufffd.jpg"}),
    (b"caf\xe9.jpg", {"filename": "caf\ufffd.jpg"}),
    (b"two\nlines.jpg", {"filename": "two\ufffdlines.jpg"}),
    (b"nul\x00esc\x1b[31m.jpg", {"filename": "nul\ufffdesc\ufffd[31m.jpg"}),
    ("evil\u202egpj.exe".encode(), {"filename": "evil\ufffdgpj.exe"}),
    (NFD, {"filename": "café.jpg"}),
    (b'say \\"cheese\\".jpg', {"filename": 'say "cheese".jpg'}),  # a quoted-pair, unescaped
]


def _expected(raw: bytes, source: dict[str, str]) -> dict[str, str]:
    unescaped = raw.replace(b'\\"', b'"')
    if source["filename"].encode() == unescaped:
        return source
    return {**source, "filename_raw": repr(unescaped)}


@pytest.mark.parametrize(("raw", "source"), CASES, ids=[repr(c[0])[:40] for c in CASES])
def test_filenames_are_normalised_and_the_raw_bytes_kept(
    world: World, raw: bytes, source: dict[str, str]
) -> None:
    c, headers = world.client, world.a.headers()
    body, content_type = multipart(file_part(raw))
    r = c.post("/v1/scan", content=body, headers={**headers, **content_type})
    assert r.status_code == 200, r.text
    expected = _expected(raw, source)
    assert r.json()["source"] == expected
    stored = c.get(f"/v1/scans/{r.json()['id']}", headers=headers)
    assert stored.status_code == 200 and stored.json()["source"] == expected


def test_raw_bytes_are_recoverable_from_filename_raw(world: World) -> None:
    import ast

    raw = "사진.jpg".encode("cp949")
    body, content_type = multipart(file_part(raw))
    r = world.client.post("/v1/scan", content=body, headers={**world.a.headers(), **content_type})
    assert r.status_code == 200, r.text
    assert ast.literal_eval(r.json()["source"]["filename_raw"]).decode("cp949") == "사진.jpg"


def test_a_scan_job_keeps_the_normalised_source(world: World) -> None:
    body, content_type = multipart(file_part(b"job\x0b\xff.jpg"))
    r = world.client.post(
        "/v1/scan?async=true", content=body, headers={**world.a.headers(), **content_type}
    )
    assert r.status_code == 202, r.text
    assert r.json()["source"] == {
        "filename": "job\ufffd\ufffd.jpg",
        "filename_raw": "b'job\\x0b\\xff.jpg'",
    }


@pytest.mark.parametrize("raw", [b"cr\r\nlf.jpg", b"cr\ronly.jpg"])
def test_a_raw_cr_in_the_header_is_a_clean_400(world: World, raw: bytes) -> None:
    """A CR ends the header line mid-name: the body is not valid multipart."""
    body, content_type = multipart(file_part(raw))
    r = world.client.post("/v1/scan", content=body, headers={**world.a.headers(), **content_type})
    assert_problem(r, 400, "bad_request")
    ok = world.client.post(
        "/v1/scan", files={"file": ("after.jpg", PHOTO)}, headers=world.a.headers()
    )
    assert ok.status_code == 200 and ok.json()["source"] == {"filename": "after.jpg"}

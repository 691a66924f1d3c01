"""The import upload limit: bank imports take ``max_import_bytes``, other uploads stay capped."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from api_helpers import TestClient, assert_problem, bearer, create_bank

from jikimi.api.app import MULTIPART_SLACK, create_app
from jikimi.api.scanning import LazyScanner
from jikimi.config import Settings
from jikimi.services import TenantService
from jikimi.store import Store

UPLOAD_LIMIT = 30_000
IMPORT_LIMIT = 200_000
BANK = "TAKEDOWNS"


@pytest.fixture
def client(sqlite_settings: Settings, shared_scanner: LazyScanner) -> Iterator[TestClient]:
    limits = {
        "max_bytes": UPLOAD_LIMIT,
        "max_upload_bytes": UPLOAD_LIMIT,
        "video_max_bytes": UPLOAD_LIMIT,
        "max_import_bytes": IMPORT_LIMIT,
    }
    settings = sqlite_settings.model_copy(update=limits)
    store = Store.from_settings(settings)
    _, key = TenantService(store).create("importer")
    store.close()
    with TestClient(create_app(settings, scanner=shared_scanner)) as c:
        c.headers.update(bearer(key.secret))
        create_bank(c, {}, BANK, kind="takedown")
        yield c


def _csv(rows: int, seed: int = 5) -> bytes:
    rng = random.Random(seed)
    lines = ["signal_type,signal_value,metadata"]
    lines += [f"pdq,{rng.getrandbits(256):064x}," for _ in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _entry_count(c: TestClient) -> int:
    count: int = c.get(f"/v1/banks/{BANK}").json()["entry_count"]
    return count


def test_an_import_larger_than_other_uploads_goes_through(client: TestClient) -> None:
    body = _csv(2_000)  # ~134 KB: over every other upload's limit, under the import's
    assert UPLOAD_LIMIT + MULTIPART_SLACK < len(body) < IMPORT_LIMIT
    r = client.post(f"/v1/banks/{BANK}/import", files={"file": ("rows.csv", body)})
    assert r.status_code == 200, r.text
    assert (r.json()["rows"], r.json()["added"]) == (2_000, 2_000)
    assert _entry_count(client) == 2_000

    # The same number of bytes elsewhere is still refused before it is read.
    r = client.post("/v1/scan", files={"file": ("x.jpg", body)})
    assert_problem(r, 413, "payload_too_large")
    r = client.post(f"/v1/banks/{BANK}/entries", files={"file": ("x.jpg", body)})
    assert_problem(r, 413, "payload_too_large")


def test_an_import_over_max_import_bytes_is_413_and_imports_nothing(client: TestClient) -> None:
    body = _csv(4_000)  # ~268 KB
    assert len(body) > IMPORT_LIMIT + MULTIPART_SLACK
    r = client.post(f"/v1/banks/{BANK}/import", files={"file": ("rows.csv", body)})
    problem = assert_problem(r, 413, "payload_too_large")
    assert str(IMPORT_LIMIT + MULTIPART_SLACK) in problem["detail"]
    assert _entry_count(client) == 0


def test_a_streamed_import_is_cut_off_at_the_limit(client: TestClient) -> None:
    """Without a Content-Length the body is counted as it arrives."""
    boundary = "jikimi-test-boundary"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="rows.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = _csv(4_000)

    def chunks() -> Iterator[bytes]:
        yield head
        yield from (body[i : i + 16_384] for i in range(0, len(body), 16_384))
        yield tail

    r = client.post(
        f"/v1/banks/{BANK}/import",
        content=chunks(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_problem(r, 413, "payload_too_large")
    assert _entry_count(client) == 0

"""Import records over HTTP: ``import_id`` in the answer, ``GET …/imports``, and resume
with the ``resume`` form field (both databases).

The interrupted import is made through the service on the same database, the way a
server killed mid-import leaves it (its lease unrenewed); the real ``kill -9`` is in
``tests/cli/test_cli_import_kill.py``.
"""

from __future__ import annotations

import io
import logging
import random
import time

import pytest
import sqlalchemy as sa
from api_helpers import TestClient, World, assert_problem

from jikimi.api.app import create_app
from jikimi.api.scanning import LazyScanner
from jikimi.domain import BankImport, Role
from jikimi.services import BankService, KeyService

LEASE_S = 0.3


class _Died(BaseException):
    pass


def _csv(n: int, seed: int = 4) -> bytes:
    rng = random.Random(seed)
    lines = ["signal_type,signal_value,metadata"]
    lines += [f"pdq,{rng.getrandbits(256):064x}," for _ in range(n)]
    lines.append("pdq,bad,")
    return ("\n".join(lines) + "\n").encode()


def _interrupted(world: World, monkeypatch: pytest.MonkeyPatch, data: bytes) -> str:
    """An import into A's bank that stopped after 2 pages of 100, as a killed server's."""
    settings = world.settings.model_copy(update={"import_lease_s": LEASE_S})
    banks = BankService(world.store, settings=settings)
    admin = KeyService(world.store).authenticate(world.a.keys[Role.ADMIN])
    started: list[BankImport] = []
    pages = 0

    def on_progress(rows: int) -> None:
        nonlocal pages
        pages += 1
        if pages == 2:
            raise _Died

    with monkeypatch.context() as m:
        m.setattr(BankService, "_end_run", lambda *a, **k: None)
        with pytest.raises(_Died):
            banks.import_file(
                admin,
                world.a.bank,
                io.BytesIO(data),
                on_start=started.append,
                on_progress=on_progress,
                batch_size=100,
            )
    time.sleep(LEASE_S * 1.5)
    return started[0].id


def test_an_import_answers_with_its_record(world: World) -> None:
    c, a = world.client, world.a
    data = _csv(30)
    r = c.post(f"/v1/banks/{a.bank}/import", files={"file": ("x.csv", data)}, headers=a.headers())
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["import_id"].startswith("imp_") and report["added"] == 30
    r = c.get(f"/v1/imports/{report['import_id']}", headers=a.headers(Role.CURATOR))
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["state"] == "done" and record["bank"] == a.bank
    assert record["key_id"] == KeyService(world.store).authenticate(a.keys[Role.ADMIN]).key_id
    assert (record["rows"], record["added"], record["error_count"]) == (31, 30, 1)
    assert record["errors"][0]["line"] == 32 and "tenant_id" not in record
    listed = c.get(f"/v1/banks/{a.bank}/imports", headers=a.headers()).json()["imports"]
    assert [i["id"] for i in listed] == [report["import_id"]]
    assert c.get(f"/v1/banks/{a.bank}/imports?limit=0", headers=a.headers()).status_code == 422


def test_an_interrupted_import_is_resumed_with_the_same_file(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    c, a = world.client, world.a
    data = _csv(450)
    import_id = _interrupted(world, monkeypatch, data)
    record = c.get(f"/v1/imports/{import_id}", headers=a.headers()).json()
    assert (record["state"], record["rows"], record["added"]) == ("interrupted", 200, 200)
    url = f"/v1/banks/{a.bank}/import"

    other = _csv(450, seed=5)
    r = c.post(
        url, files={"file": ("x.csv", other)}, data={"resume": import_id}, headers=a.headers()
    )
    assert_problem(r, 422, "import_file_mismatch")
    r = c.post(url, files={"file": ("x.csv", data)}, data={"resume": "imp_x"}, headers=a.headers())
    assert_problem(r, 404, "not_found")
    b = world.b  # another tenant cannot resume (or see) it
    r = c.post(
        f"/v1/banks/{b.bank}/import",
        files={"file": ("x.csv", data)},
        data={"resume": import_id},
        headers=b.headers(),
    )
    assert_problem(r, 404, "not_found")
    assert_problem(c.get(f"/v1/imports/{import_id}", headers=b.headers()), 404, "not_found")

    r = c.post(
        url, files={"file": ("x.csv", data)}, data={"resume": import_id}, headers=a.headers()
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["import_id"] == import_id
    assert (report["rows"], report["added"], report["duplicates"]) == (451, 450, 0)
    assert report["error_count"] == 1
    assert (
        c.get(f"/v1/banks/{a.bank}", headers=a.headers()).json()["entry_count"] == 1 + 450
    )  # the world's entry, and the file's
    record = c.get(f"/v1/imports/{import_id}", headers=a.headers()).json()
    assert (record["state"], record["runs"]) == ("done", 2)

    r = c.post(
        url, files={"file": ("x.csv", data)}, data={"resume": import_id}, headers=a.headers()
    )
    assert_problem(r, 409, "import_not_resumable")


def test_the_server_notes_interrupted_imports_when_it_starts(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    shared_scanner: LazyScanner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import_id = _interrupted(world, monkeypatch, _csv(250))
    caplog.clear()
    app = create_app(world.settings, scanner=shared_scanner)
    with caplog.at_level(logging.WARNING, logger="jikimi.services.banks"), TestClient(app):
        pass
    [message] = [r.getMessage() for r in caplog.records if import_id in r.getMessage()]
    assert "was interrupted after 200 rows (200 added" in message
    with world.store.session() as s, s.begin():
        state = s.execute(sa.text("SELECT state FROM imports WHERE id = :i"), {"i": import_id})
        assert state.scalar_one() == "interrupted"

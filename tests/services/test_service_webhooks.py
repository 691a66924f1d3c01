"""Consequences of a Verdict: outbox rows written with the scan, signed webhooks delivered once.

A real HTTP receiver on 127.0.0.1 checks each delivery's HMAC-SHA256 signature
with the secret shown when the webhook was set, as a tenant's receiver would.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image
from service_helpers import Side

from jikimi.actions import BANK_MATCHED, SCAN_HELD, ActionRecorder, events_of
from jikimi.config import Settings
from jikimi.domain import Action, BankCreate, BankKind, EntryCreate, Role, SignalKind, Verdict
from jikimi.errors import Forbidden, InvalidInput, NotFound
from jikimi.notices import signing
from jikimi.pipeline import Item
from jikimi.services import BankService
from jikimi.services.casework import Casework
from jikimi.services.matching import MatchService
from jikimi.services.scans import LazyScanner, ScanService
from jikimi.store import Store, outbox
from jikimi.store.case_models import OutboxRow


def picture(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(blocks).resize((256, 256), Image.Resampling.NEAREST).save(out, "JPEG")
    return out.getvalue()


@dataclass
class Receiver:
    """A webhook endpoint: records deliveries, answers with the next queued status."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            box.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = box.statuses.pop(0) if box.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield box
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def scanner() -> LazyScanner:
    return LazyScanner(Settings())


class World:
    def __init__(self, store: Store, settings: Settings, scanner: LazyScanner) -> None:
        settings = settings.model_copy(update={"capture_allow_networks": ["127.0.0.0/8"]})
        self.store = store
        self.matching = MatchService(store, settings)
        self.matching.load()
        self.banks = BankService(store, settings=settings, listener=self.matching)
        self.scans = ScanService(store, scanner, self.matching.matcher_for)
        self.scans.on_stored_for = ActionRecorder().on_stored
        self.work = Casework.from_settings(settings, store)
        self.deliverer = self.work.webhook_deliverer()

    def rows(self) -> list[OutboxRow]:
        with self.store.session() as s:
            return list(s.scalars(sa.select(OutboxRow).where(OutboxRow.kind == "webhook")))


@pytest.fixture
def world(store: Store, settings: Settings, scanner: LazyScanner) -> Iterator[World]:
    w = World(store, settings, scanner)
    yield w
    w.matching.close()


def _banked(world: World, side: Side, image: bytes) -> str:
    admin = side.as_[Role.ADMIN]
    world.banks.create(admin, BankCreate(name="KNOWN", kind=BankKind.TAKEDOWN))
    md5 = hashlib.md5(image).hexdigest()
    return world.banks.add_entry(admin, "KNOWN", EntryCreate(signal=SignalKind.MD5, value=md5)).id


def test_events_of_a_verdict_are_pure_and_leave_imagery_out(world: World, acme: Side) -> None:
    image = picture(3)
    entry = _banked(world, acme, image)
    [hit] = world.scans.scan_many(acme.as_[Role.PLATFORM], [Item(image, {"filename": "a.jpg"})])
    assert hit.decision is not None and hit.decision.action.severity >= Action.HOLD.severity
    events = dict(events_of(hit))
    assert set(events) == {SCAN_HELD, BANK_MATCHED}
    assert [m["entry"] for m in events[BANK_MATCHED]["matches"]] == [entry]
    assert events[SCAN_HELD]["scan"] == hit.id and events[SCAN_HELD]["source"] == {
        "filename": "a.jpg"
    }
    text = json.dumps(events)
    assert "faces" not in text and "grade" not in text  # ids, decisions, banks only
    [plain] = world.scans.scan_many(acme.as_[Role.PLATFORM], [Item(picture(4), {})])
    assert plain.decision is not None and plain.decision.action is Action.ALLOW
    assert events_of(plain) == []
    failed = Verdict.model_validate({"id": "scn_x", "error": {"code": "x", "message": "y"}})
    assert events_of(failed) == []


def test_a_held_scan_is_delivered_signed_and_once(
    world: World, acme: Side, receiver: Receiver
) -> None:
    image = picture(5)
    _banked(world, acme, image)
    hook = world.work.webhooks.set(acme.as_[Role.ADMIN], receiver.url, [SCAN_HELD])
    [hit] = world.scans.scan_many(acme.as_[Role.PLATFORM], [Item(image, {})])
    [row] = world.rows()  # written with the scan: bank.matched is not subscribed
    assert row.key == f"webhook:scan.held:{hit.id}" and row.state == outbox.PENDING

    assert world.deliverer.run_once() is True
    assert world.deliverer.run_once() is False  # nothing else due: delivered once
    [(headers, body)] = receiver.got
    assert signing.verify(
        hook.secret.encode(),
        headers[signing.TIMESTAMP.lower()],
        body,
        headers[signing.SIGNATURE.lower()],
        time.time(),
    )
    assert not signing.verify(
        b"another secret",
        headers[signing.TIMESTAMP.lower()],
        body,
        headers[signing.SIGNATURE.lower()],
        time.time(),
    )
    sent = json.loads(body)
    assert sent["id"] == headers["idempotency-key"] == row.key
    assert (sent["type"], sent["tenant"], sent["data"]["scan"]) == (
        SCAN_HELD,
        acme.tenant.id,
        hit.id,
    )
    [done] = world.rows()
    assert done.state == outbox.DONE and done.attempts == 1


def test_no_webhook_no_rows_and_a_rolled_back_scan_leaves_none(
    world: World, acme: Side, receiver: Receiver
) -> None:
    image = picture(6)
    _banked(world, acme, image)
    world.scans.scan_many(acme.as_[Role.PLATFORM], [Item(image, {})])
    assert world.rows() == []  # nobody subscribed: nothing queued
    world.work.webhooks.set(acme.as_[Role.ADMIN], receiver.url)

    def refuse(*_: Any) -> None:
        raise RuntimeError("the job lost its lease")

    with pytest.raises(RuntimeError):
        world.scans.scan_many(acme.as_[Role.PLATFORM], [Item(image, {})], also=refuse)
    assert world.rows() == []  # the scan was not stored, so neither were its consequences
    world.scans.scan_many(acme.as_[Role.PLATFORM], [Item(image, {})])
    assert {r.key.split(":")[1] for r in world.rows()} == {SCAN_HELD, BANK_MATCHED}


def test_server_errors_are_retried_and_client_errors_give_up(
    world: World, acme: Side, receiver: Receiver
) -> None:
    image = picture(8)
    _banked(world, acme, image)
    world.work.webhooks.set(acme.as_[Role.ADMIN], receiver.url, [BANK_MATCHED])
    world.scans.scan_many(acme.as_[Role.PLATFORM], [Item(image, {})])
    receiver.statuses[:] = [503]
    assert world.deliverer.run_once() is True
    [row] = world.rows()
    assert row.state == outbox.PENDING and row.attempts == 1 and "503" in (row.last_error or "")
    with world.store.session(write=True) as s, s.begin():  # the back-off is over
        s.execute(sa.update(OutboxRow).values(next_at=row.created_at))
    assert world.deliverer.run_once() is True
    [row] = world.rows()
    assert row.state == outbox.DONE and row.attempts == 2
    assert len({h["idempotency-key"] for h, _ in receiver.got}) == 1  # the same key twice

    world.scans.scan_many(acme.as_[Role.PLATFORM], [Item(picture(8), {"again": True})])
    receiver.statuses[:] = [410]
    assert world.deliverer.run_once() is True
    states = sorted(r.state for r in world.rows())
    assert states == [outbox.DONE, outbox.FAILED]


def test_only_admins_set_webhooks_and_urls_are_checked(
    world: World, acme: Side, bravo: Side, receiver: Receiver
) -> None:
    with pytest.raises(Forbidden):
        world.work.webhooks.set(acme.as_[Role.PLATFORM], receiver.url)
    for bad in ("ftp://x/y", "http:///nohost", "https://x/" + "a" * 3000):
        with pytest.raises(InvalidInput):
            world.work.webhooks.set(acme.as_[Role.ADMIN], bad)
    with pytest.raises(InvalidInput):
        world.work.webhooks.set(acme.as_[Role.ADMIN], receiver.url, ["scan.deleted"])
    world.work.webhooks.set(acme.as_[Role.ADMIN], receiver.url)
    assert world.work.webhooks.get(acme.as_[Role.ADMIN]).url == receiver.url
    with pytest.raises(NotFound):
        world.work.webhooks.get(bravo.as_[Role.ADMIN])  # per tenant
    world.work.webhooks.remove(acme.as_[Role.ADMIN])
    with pytest.raises(NotFound):
        world.work.webhooks.get(acme.as_[Role.ADMIN])

"""Notices end to end: draft, four eyes, the outbox, a real SMTP server, a signed API."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from service_helpers import Side

from jikimi.audit.chain import verify
from jikimi.cases.lifecycle import ItemStatus, NoticeState
from jikimi.cases.types import Contact, ContactKind
from jikimi.domain import Role, SignalKind
from jikimi.errors import Conflict, Forbidden, InvalidInput
from jikimi.evidence import Sealer
from jikimi.fetching import AddressPolicy, SafeFetcher
from jikimi.notices import NoticeRenderer, Sender, signing
from jikimi.services.cases import CaseService, HostService, HostSpec
from jikimi.services.delivery import NoticeDeliverer, SmtpConfig
from jikimi.services.notices import NoticeOptions, NoticeService
from jikimi.store import Store
from jikimi.store import audit as audit_repo
from jikimi.store import casework as repo

SEALER = Sealer(b"n" * 32)
SENDER = Sender("Support Centre", "help@centre.example")
SECRET = "partner-secret"


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.greetings = 0  # EHLO/HELO: one per SMTP session
        self.fail_next = 0  # answer this many DATA commands with a transient error

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fail_next:
            self.fail_next -= 1
            return "451 try again later"
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Mailbox]]:
    box = _Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, box
    controller.stop()


class _Partner(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = signing.verify(
            SECRET.encode(),
            self.headers[signing.TIMESTAMP],
            body,
            self.headers[signing.SIGNATURE],
            time.time(),
        )
        self.received.append(
            {"ok": ok, "body": json.loads(body), "key": self.headers[signing.IDEMPOTENCY]}
        )
        self.send_response(self.status if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def partner() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("P", (_Partner,), {"received": received})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], received
    httpd.shutdown()
    httpd.server_close()


class Loopback:
    def resolve(self, host: str, port: int) -> list[str]:
        return ["127.0.0.1"]


@pytest.fixture
def world(store: Store, acme: Side) -> dict[str, Any]:
    hosts = HostService(store, SEALER)
    cases = CaseService(store, SEALER)
    renderer = NoticeRenderer()
    notices = NoticeService(store, renderer, NoticeOptions(SENDER))
    return {"hosts": hosts, "cases": cases, "notices": notices, "renderer": renderer}


def _deliverer(store: Store, world: dict[str, Any], smtp_port: int = 1) -> NoticeDeliverer:
    return NoticeDeliverer(
        store,
        sender=SENDER,
        smtp=SmtpConfig(port=smtp_port, timeout_s=5),
        fetcher=SafeFetcher(AddressPolicy.allowing(["127.0.0.1/32"]), resolver=Loopback()),
        api_secret=world["hosts"].api_secret,
        deadline_hours=world["renderer"].deadline_hours,
    )


def _case_with_items(world: dict[str, Any], side: Side, host: str, n: int = 2) -> str:
    worker = side.as_[Role.CASEWORKER]
    case = world["cases"].open(worker, title="Student A", language="ko").case
    for i in range(n):
        world["cases"].add_hashes(
            worker,
            case.id,
            {SignalKind.MD5: f"{i:032x}"},
            host=host,
            url=f"https://{host}.example/p/{i}.jpg",
            source="@ch",
        )
    return str(case.id)


def test_email_notice_in_the_hosts_language(
    world: dict[str, Any], acme: Side, store: Store, smtp: tuple[int, _Mailbox]
) -> None:
    port, box = smtp
    worker, reviewer = acme.as_[Role.CASEWORKER], acme.as_[Role.REVIEWER]
    world["hosts"].add(
        worker,
        HostSpec(
            "tg",
            "Telegram",
            "en",
            (Contact(kind=ContactKind.EMAIL, value="abuse@tg.example"),),
            ("take_it_down",),
        ),
    )
    case_id = _case_with_items(world, acme, "tg")
    notice = world["notices"].draft(worker, case_id, "tg")
    assert notice.state is NoticeState.DRAFT and notice.language == "en"
    assert "TAKE IT DOWN" in notice.body and "https://tg.example/p/1.jpg" in notice.body

    with pytest.raises(Conflict):  # nothing is sent without approval
        world["notices"].send(worker, notice.id)
    with pytest.raises(Forbidden):  # the drafter cannot approve her own draft
        world["notices"].approve(worker, notice.id)
    with pytest.raises(Forbidden):  # a caseworker may not approve at all
        world["notices"].approve(acme.as_[Role.PLATFORM], notice.id)
    world["notices"].approve(reviewer, notice.id)
    sending = world["notices"].send(worker, notice.id)
    assert sending.state is NoticeState.SENDING
    with pytest.raises(Conflict):
        world["notices"].send(worker, notice.id)  # queued once

    deliverer = _deliverer(store, world, port)
    assert deliverer.run_until_idle() == 1
    assert deliverer.run_until_idle() == 0
    assert len(box.messages) == 1
    mail = message_from_bytes(box.messages[0])
    assert (
        mail["To"] == "abuse@tg.example"
        and "TAKE IT DOWN" in mail.get_payload(decode=True).decode()
    )
    sent = world["notices"].get(worker, notice.id)
    assert sent.state is NoticeState.SENT and sent.deadline_at is not None
    assert (sent.deadline_at - sent.sent_at).total_seconds() == 48 * 3600  # type: ignore[operator]
    items = world["cases"].items(worker, case_id)
    assert {i.status for i in items} == {ItemStatus.NOTIFIED}
    with pytest.raises(InvalidInput):  # nothing left waiting at that host
        world["notices"].draft(worker, case_id, "tg")
    with store.session() as s:
        assert verify(audit_repo.iter_all(s)).ok


def _email_host(world: dict[str, Any], side: Side, slug: str) -> None:
    world["hosts"].add(
        side.as_[Role.CASEWORKER],
        HostSpec(
            slug,
            slug.title(),
            "en",
            (Contact(kind=ContactKind.EMAIL, value=f"abuse@{slug}.example"),),
            ("take_it_down",),
        ),
    )


def test_a_burst_of_notices_shares_one_smtp_session_and_a_failure_drops_it(
    world: dict[str, Any], acme: Side, store: Store, smtp: tuple[int, _Mailbox]
) -> None:
    port, box = smtp
    worker, reviewer = acme.as_[Role.CASEWORKER], acme.as_[Role.REVIEWER]
    ids = []
    for slug in ("aa", "bb", "cc", "dd"):
        _email_host(world, acme, slug)
        notice = world["notices"].draft(worker, _case_with_items(world, acme, slug), slug)
        world["notices"].approve(reviewer, notice.id)
        world["notices"].send(worker, notice.id)
        ids.append(notice.id)
    box.fail_next = 1  # the second message meets a transient error
    deliverer = _deliverer(store, world, port)
    assert deliverer.run_until_idle() == 4
    assert len(box.messages) == 3
    assert box.greetings == 2  # one session for the burst, a new one after the failure
    states = [world["notices"].get(worker, i).state for i in ids]
    assert states.count(NoticeState.SENT) == 3 and states.count(NoticeState.SENDING) == 1
    ids_sent = [message_from_bytes(m)["X-Jikimi-Notice"] for m in box.messages]
    assert len(set(ids_sent)) == 3  # each once


def test_api_notice_is_signed_and_retried(
    world: dict[str, Any], acme: Side, store: Store, partner: tuple[int, list[dict[str, Any]]]
) -> None:
    port, received = partner
    worker, admin = acme.as_[Role.CASEWORKER], acme.as_[Role.ADMIN]
    api = Contact(kind=ContactKind.API, value=f"http://partner.example:{port}/takedown")
    world["hosts"].add(
        worker, HostSpec("p", "Partner", "ja", (api,), ("dsa_art16",), api_secret=SECRET)
    )
    case_id = _case_with_items(world, acme, "p", n=1)
    notice = world["notices"].draft(worker, case_id, "p")
    assert notice.language == "ja" and "第16条" in notice.body
    world["notices"].approve(admin, notice.id)
    world["notices"].send(worker, notice.id)
    _Partner.status = 503
    try:
        deliverer = _deliverer(store, world)
        assert deliverer.run_once()
        assert world["notices"].get(worker, notice.id).state is NoticeState.SENDING  # retried
    finally:
        _Partner.status = 200
    # the retry is due after its back-off
    later = _deliverer(store, world)
    later.clock = lambda: datetime.now(UTC) + timedelta(minutes=2)
    assert later.run_once()
    assert world["notices"].get(worker, notice.id).state is NoticeState.SENT
    assert [r["ok"] for r in received] == [True, True]
    assert received[0]["key"] == received[1]["key"]  # one idempotency key for both tries
    assert received[1]["body"]["items"][0]["url"] == "https://p.example/p/0.jpg"


def test_form_only_host_and_no_channel(world: dict[str, Any], acme: Side, store: Store) -> None:
    worker, admin = acme.as_[Role.CASEWORKER], acme.as_[Role.ADMIN]
    world["hosts"].add(worker, HostSpec("none", "Nothing", "en"))
    world["hosts"].add(
        worker,
        HostSpec(
            "form",
            "Form Host",
            "vi",
            (Contact(kind=ContactKind.FORM, value="https://f.example/report"),),
        ),
    )
    case_id = _case_with_items(world, acme, "none", n=1)
    with pytest.raises(InvalidInput, match="no contact channel"):
        world["notices"].draft(worker, case_id, "none")
    case2 = _case_with_items(world, acme, "form", n=1)
    notice = world["notices"].draft(worker, case2, "form")
    world["notices"].approve(admin, notice.id)
    with pytest.raises(InvalidInput, match="web form"):
        world["notices"].send(worker, notice.id)
    done = world["notices"].mark_sent(worker, notice.id, note="submitted by hand")
    assert done.state is NoticeState.SENT
    with store.session() as s:
        rows = repo.list_items(s, acme.tenant.id, case_id=case2)
    assert rows[0].status is ItemStatus.NOTIFIED and rows[0].deadline_at is not None

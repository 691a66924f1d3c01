"""Escalation: an item still up after its notice's deadline is flagged and followed up.

The first re-check at or after the deadline that still finds the item marks it
``escalated_at`` (audited) and drafts a follow-up notice to the host, in the host's
language, naming the notice whose deadline was missed; a person approves it like
any notice, and sending it keeps the item's first clock. An item removed in time
is not escalated, and a second late re-check drafts nothing more.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from service_helpers import Side

from jikimi.audit.chain import verify
from jikimi.cases.lifecycle import ItemStatus, NoticeState
from jikimi.cases.types import Contact, ContactKind, Regulator
from jikimi.config import Settings
from jikimi.domain import Role
from jikimi.errors import InvalidInput
from jikimi.services.cases import HostSpec
from jikimi.services.casework import ESCALATION_ACTOR, Casework
from jikimi.store import Store
from jikimi.store import audit as audit_repo
from pages_host import PagesHost, serve_pages

COFFEE = (Path(__file__).resolve().parents[2] / "src/jikimi/data/samples/coffee.jpg").read_bytes()


@pytest.fixture
def host() -> Iterator[PagesHost]:
    with serve_pages() as served:
        yield served


def test_missed_deadline_escalates_once_with_a_follow_up(
    store: Store, settings: Settings, acme: Side, host: PagesHost
) -> None:
    worker, reviewer = acme.as_[Role.CASEWORKER], acme.as_[Role.REVIEWER]
    settings = settings.model_copy(update={"capture_allow_networks": ["127.0.0.1/32"]})
    work = Casework.from_settings(settings, store)
    form = Contact(kind=ContactKind.FORM, value="https://h.example/report")
    work.hosts.add(worker, HostSpec("h", "Host", "ko", (form,), ("kcsc",)))
    case = work.cases.open(worker, title="A", language="ko").case
    base = f"http://127.0.0.1:{host.port}"
    host.pages = {"/a.jpg": COFFEE, "/b.jpg": COFFEE}
    a = work.cases.add_url(worker, case.id, f"{base}/a.jpg", host="h")
    b = work.cases.add_url(worker, case.id, f"{base}/b.jpg", host="h")
    first = work.notices.draft(worker, case.id, "h")
    work.notices.approve(reviewer, first.id)
    first = work.notices.mark_sent(worker, first.id, "sent on the form")
    notified = work.cases.get_item(worker, a.id)
    assert notified.deadline_at is not None

    clock = {"now": datetime.now(UTC)}
    checker = work.rechecker()
    checker.clock = lambda: clock["now"]
    clock["now"] += timedelta(hours=6, minutes=1)
    checker.run_until_idle()
    assert work.cases.get_item(worker, a.id).escalated_at is None  # before the deadline

    del host.pages["/b.jpg"]  # b is taken down; a stays up past the deadline (24 h)
    clock["now"] = notified.deadline_at + timedelta(minutes=1)
    checker.run_until_idle()
    late, gone = work.cases.get_item(worker, a.id), work.cases.get_item(worker, b.id)
    assert late.status is ItemStatus.NOTIFIED and late.escalated_at == clock["now"]
    assert gone.status is ItemStatus.REMOVED and gone.escalated_at is None

    follow_ups = [n for n in work.notices.list(worker, case.id) if n.id != first.id]
    [follow_up] = follow_ups
    assert follow_up.state is NoticeState.DRAFT
    assert follow_up.drafted_by == ESCALATION_ACTOR
    assert follow_up.item_ids == (a.id,)
    assert follow_up.subject.startswith("[재요청")
    assert first.id in follow_up.body and a.url in follow_up.body  # type: ignore[operator]
    with store.session() as s:
        entries = list(audit_repo.iter_all(s))
    [escalation] = [e for e in entries if e.action == "escalate"]
    assert escalation.entity_id == a.id and escalation.actor == "system:rechecker"
    assert escalation.data["notice"] == first.id and escalation.data["hours_late"] >= 0
    assert escalation.data["regulator"] is None  # the host names none
    drafted = [e for e in entries if e.entity_id == follow_up.id and e.action == "draft"]
    assert drafted[0].data["follow_up_of"] == first.id

    # the overdue list shows it escalated; a later check drafts nothing more
    work.reports.clock = lambda: clock["now"]
    [overdue] = work.reports.overdue(worker)
    assert overdue.id == a.id and overdue.escalated_at is not None
    clock["now"] += timedelta(days=1)
    checker.run_until_idle()
    assert len(work.notices.list(worker, case.id)) == 2
    assert work.cases.get_item(worker, a.id).escalated_at == late.escalated_at

    # a person approves and sends the follow-up: the item keeps the clock it missed
    work.notices.approve(reviewer, follow_up.id)
    work.notices.mark_sent(worker, follow_up.id, "sent again")
    after = work.cases.get_item(worker, a.id)
    assert after.deadline_at == notified.deadline_at
    assert after.notified_at == notified.notified_at
    with store.session() as s:
        assert verify(audit_repo.iter_all(s)).ok


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def test_escalation_names_the_hosts_regulator_and_the_follow_up_copies_it(
    store: Store, settings: Settings, acme: Side, host: PagesHost
) -> None:
    box = _Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        worker, reviewer = acme.as_[Role.CASEWORKER], acme.as_[Role.REVIEWER]
        settings = settings.model_copy(
            update={"capture_allow_networks": ["127.0.0.1/32"], "smtp_port": port}
        )
        work = Casework.from_settings(settings, store)
        mail = Contact(kind=ContactKind.EMAIL, value="abuse@h.example")
        kcsc = Regulator(name="KCSC", email="report@kcsc.example")
        added = work.hosts.add(
            worker, HostSpec("h", "Host", "en", (mail,), ("kcsc",), regulator=kcsc)
        )
        assert work.hosts.get(worker, "h").regulator == kcsc == added.regulator
        case = work.cases.open(worker, title="A", language="ko").case
        host.pages = {"/a.jpg": COFFEE}
        a = work.cases.add_url(worker, case.id, f"http://127.0.0.1:{host.port}/a.jpg", host="h")
        first = work.notices.draft(worker, case.id, "h")
        assert first.copy_to is None  # a first notice copies nobody
        work.notices.approve(reviewer, first.id)
        work.notices.send(worker, first.id)
        deliverer = work.deliverer()
        assert deliverer.run_until_idle() == 1
        [(to_first, _)] = box.messages
        assert to_first == ["abuse@h.example"]

        deadline = work.cases.get_item(worker, a.id).deadline_at
        assert deadline is not None
        checker = work.rechecker()
        checker.clock = lambda: deadline + timedelta(minutes=1)
        checker.run_until_idle()
        with store.session() as s:
            entries = list(audit_repo.iter_all(s))
        [escalation] = [e for e in entries if e.action == "escalate"]
        assert escalation.data["regulator"] == "KCSC <report@kcsc.example>"

        [follow_up] = [n for n in work.notices.list(worker, case.id) if n.id != first.id]
        assert follow_up.copy_to == kcsc
        assert "A copy of this follow-up goes to KCSC <report@kcsc.example>." in follow_up.body
        drafted = [e for e in entries if e.entity_id == follow_up.id and e.action == "draft"]
        assert drafted[0].data["copy_to"] == "KCSC <report@kcsc.example>"

        work.notices.approve(reviewer, follow_up.id)
        sent = work.notices.send(worker, follow_up.id)
        assert sent.channel is not None and sent.channel["cc"] == "report@kcsc.example"
        assert deliverer.run_until_idle() == 1
        rcpts, content = box.messages[1]
        assert sorted(rcpts) == ["abuse@h.example", "report@kcsc.example"]
        message = message_from_bytes(content)
        assert message["Cc"] == "report@kcsc.example" and message["To"] == "abuse@h.example"
        with store.session() as s:
            assert verify(audit_repo.iter_all(s)).ok
    finally:
        controller.stop()


def test_a_regulator_is_optional_and_its_address_must_be_an_email(
    store: Store, settings: Settings, acme: Side
) -> None:
    worker = acme.as_[Role.CASEWORKER]
    work = Casework.from_settings(settings, store)
    form = Contact(kind=ContactKind.FORM, value="https://h.example/report")
    host = work.hosts.add(worker, HostSpec("h", "Host", "ko", (form,), ("kcsc",)))
    assert host.regulator is None
    with pytest.raises(InvalidInput):
        work.hosts.add(
            worker,
            HostSpec("g", "G", "ko", (form,), regulator=Regulator(name="X", email="not-mail")),
        )

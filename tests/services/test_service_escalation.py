"""Escalation: an item still up after its notice's deadline is flagged and followed up.

The first re-check at or after the deadline that still finds the item marks it
``escalated_at`` (audited) and drafts a follow-up notice to the host, in the host's
language, naming the notice whose deadline was missed; a person approves it like
any notice, and sending it keeps the item's first clock. An item removed in time
is not escalated, and a second late re-check drafts nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from service_helpers import Side

from jikimi.audit.chain import verify
from jikimi.cases.lifecycle import ItemStatus, NoticeState
from jikimi.cases.types import Contact, ContactKind
from jikimi.config import Settings
from jikimi.domain import Role
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

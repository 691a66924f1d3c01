"""Re-checks find removals on schedule; removed items go to the takedown bank; re-uploads link."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from service_helpers import Side

from jikimi.cases.lifecycle import ItemStatus
from jikimi.cases.types import Contact, ContactKind
from jikimi.config import Settings
from jikimi.domain import BankCreate, BankKind, Role, SignalKind
from jikimi.evidence import Sealer
from jikimi.fetching import AddressPolicy, SafeFetcher
from jikimi.media import MediaLimits
from jikimi.notices import NoticeRenderer, Sender
from jikimi.services import BankService
from jikimi.services.cases import CaseService, HostService, HostSpec
from jikimi.services.notices import NoticeOptions, NoticeService
from jikimi.services.rechecks import Rechecker, link_reuploads
from jikimi.store import Store
from jikimi.store import casework as repo

SAMPLES = Path(__file__).resolve().parents[2] / "src/jikimi/data/samples"
COFFEE = (SAMPLES / "coffee.jpg").read_bytes()
ROCKET = (SAMPLES / "rocket.jpg").read_bytes()
SEALER = Sealer(b"r" * 32)


class _Host(BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def do_GET(self) -> None:
        status, body = self.pages.get(self.path, (404, b""))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    _Host.pages = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Host)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


class Loopback:
    def resolve(self, host: str, port: int) -> list[str]:
        return ["127.0.0.1"]


def _fetcher() -> SafeFetcher:
    return SafeFetcher(AddressPolicy.allowing(["127.0.0.1/32"]), resolver=Loopback())


def test_recheck_schedule_removal_bank_and_reupload(
    store: Store, settings: Settings, acme: Side, port: int
) -> None:
    worker, admin = acme.as_[Role.CASEWORKER], acme.as_[Role.ADMIN]
    banks = BankService(store, settings=settings)
    bank = banks.create(admin, BankCreate(name="CASE_TAKEDOWNS", kind=BankKind.TAKEDOWN))
    hosts = HostService(store, SEALER)
    cases = CaseService(store, SEALER, _fetcher(), limits=MediaLimits.from_settings(settings))
    notices = NoticeService(store, NoticeRenderer(), NoticeOptions(Sender("C", "c@c.example")))
    hosts.add(
        worker,
        HostSpec(
            "h",
            "Host",
            "en",
            (Contact(kind=ContactKind.FORM, value="https://h.example/f"),),
            ("take_it_down",),
            removal_markers=("This post was removed",),
        ),
    )
    case = cases.open(worker, title="A", language="en", takedown_bank_id=bank.id).case
    base = f"http://h.example:{port}"
    _Host.pages = {"/a.jpg": (200, COFFEE), "/b.jpg": (200, COFFEE), "/c.jpg": (200, COFFEE)}
    a = cases.add_url(worker, case.id, f"{base}/a.jpg", host="h")
    b = cases.add_url(worker, case.id, f"{base}/b.jpg", host="h")
    c = cases.add_url(worker, case.id, f"{base}/c.jpg", host="h")
    assert {i.status for i in (a, b, c)} == {ItemStatus.PENDING}
    notice = notices.draft(worker, case.id, "h")
    notices.approve(admin, notice.id)
    notices.mark_sent(worker, notice.id)

    t0 = datetime.now(UTC)
    clock = {"now": t0}
    checker = Rechecker(
        store,
        _fetcher(),
        MediaLimits.from_settings(settings),
        add_to_bank=banks.add_entries,
        clock=lambda: clock["now"],
    )
    assert checker.run_until_idle() == 0  # nothing due before an hour

    _Host.pages = {"/a.jpg": (200, COFFEE), "/c.jpg": (200, b"<html>This post was removed</html>")}
    clock["now"] = t0 + timedelta(hours=1, seconds=1)
    assert checker.run_until_idle() == 3
    got = {i.id: i for i in cases.items(worker, case.id)}
    assert got[a.id].status is ItemStatus.NOTIFIED and got[a.id].check_count == 1
    assert got[b.id].status is ItemStatus.REMOVED and got[b.id].reason == "HTTP 404"
    assert got[c.id].status is ItemStatus.REMOVED and "removal page" in (got[c.id].reason or "")

    _Host.pages = {"/a.jpg": (200, ROCKET)}  # the address now serves something else
    clock["now"] = t0 + timedelta(hours=6, seconds=1)
    assert checker.run_until_idle() == 1
    assert cases.get_item(worker, a.id).status is ItemStatus.REMOVED

    # the first removed item's hashes are in the takedown bank, with the item in the
    # metadata (the three items are one image: the later ones find their hashes banked)
    page = banks.list_entries(admin, "CASE_TAKEDOWNS")
    metas = [e.metadata for e in page.entries]
    assert {e.signal for e in page.entries} == {SignalKind.PDQ, SignalKind.MD5, SignalKind.SHA256}
    assert len({m["item"] for m in metas}) == 1 and metas[0]["item"] in (b.id, c.id)
    with store.session(write=True) as s, s.begin():
        moved = link_reuploads(s, acme.tenant.id, metas[:1], datetime.now(UTC))
    assert moved == [metas[0]["item"]]
    assert cases.get_item(worker, moved[0]).status is ItemStatus.REAPPEARED
    with store.session() as s:
        assert len(repo.list_items(s, acme.tenant.id, statuses=[ItemStatus.REAPPEARED])) == 1


def test_hash_only_items_are_not_rechecked(store: Store, acme: Side, settings: Settings) -> None:
    worker, admin = acme.as_[Role.CASEWORKER], acme.as_[Role.ADMIN]
    hosts, cases = HostService(store, SEALER), CaseService(store, SEALER)
    notices = NoticeService(store, NoticeRenderer(), NoticeOptions(Sender("C", "c@c.example")))
    hosts.add(
        worker,
        HostSpec("h", "Host", "en", (Contact(kind=ContactKind.FORM, value="https://h.example/f"),)),
    )
    case = cases.open(worker, title="A", language="en").case
    cases.add_hashes(worker, case.id, {SignalKind.MD5: "a" * 32}, host="h")
    notice = notices.draft(worker, case.id, "h")
    notices.approve(admin, notice.id)
    notices.mark_sent(worker, notice.id)
    checker = Rechecker(
        store,
        _fetcher(),
        MediaLimits.from_settings(settings),
        clock=lambda: datetime.now(UTC) + timedelta(days=40),
    )
    assert checker.run_until_idle() == 0

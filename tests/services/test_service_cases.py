"""Cases, hosts and items: roles, tenants, PINs, capture by URL, and the audit trail."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from service_helpers import Side

from jikimi.audit.chain import verify
from jikimi.cases.lifecycle import CaseStatus, ItemStatus
from jikimi.cases.types import Contact, ContactKind
from jikimi.domain import Role, SignalKind
from jikimi.errors import Conflict, Forbidden, InvalidHash, InvalidInput, NotFound
from jikimi.evidence import Sealer
from jikimi.fetching import AddressPolicy, SafeFetcher
from jikimi.services.cases import CaseService, HostService, HostSpec, UrlItem
from jikimi.store import Store
from jikimi.store import audit as audit_repo

JPEG = (Path(__file__).resolve().parents[2] / "src/jikimi/data/samples/coffee.jpg").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/p/1.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(JPEG)))
            self.end_headers()
            self.wfile.write(JPEG)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


class Loopback:
    def resolve(self, host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host.endswith(".example") else ["169.254.169.254"]


SEALER = Sealer(b"s" * 32)


@pytest.fixture
def cases(store: Store) -> CaseService:
    fetcher = SafeFetcher(AddressPolicy.allowing(["127.0.0.1/32"]), resolver=Loopback())
    return CaseService(store, SEALER, fetcher)


@pytest.fixture
def hosts(store: Store) -> HostService:
    return HostService(store, SEALER)


def _chain_ok(store: Store) -> int:
    with store.session() as s:
        report = verify(audit_repo.iter_all(s))
    assert report.ok, report.reason
    return report.checked


def test_open_case_pin_and_contact(cases: CaseService, acme: Side, store: Store) -> None:
    worker = acme.as_[Role.CASEWORKER]
    opened = cases.open(worker, title="Student A", language="ko-KR", victim_contact="010-1234")
    assert opened.case.status is CaseStatus.OPEN and opened.case.language == "ko"
    assert opened.case.has_victim_contact and len(opened.pin) == 8
    assert cases.check_pin(opened.case.number, opened.pin) == opened.case
    assert cases.check_pin(opened.case.number, "00000000") is None
    assert cases.check_pin("2026-99999999", opened.pin) is None
    assert cases.victim_contact(worker, opened.case.id) == "010-1234"
    with store.session() as s:
        rows = list(audit_repo.iter_all(s))
    assert [r.action for r in rows] == ["open", "read_contact"]
    assert all("010-1234" not in str(r.data) and opened.pin not in str(r.data) for r in rows)


def test_roles_and_tenants(cases: CaseService, acme: Side, bravo: Side) -> None:
    case = cases.open(acme.as_[Role.CASEWORKER], title="A", language="en").case
    with pytest.raises(Forbidden):
        cases.open(acme.as_[Role.PLATFORM], title="A", language="en")
    with pytest.raises(Forbidden):
        cases.open(acme.as_[Role.REVIEWER], title="A", language="en")
    assert cases.get(acme.as_[Role.REVIEWER], case.id) == case
    with pytest.raises(NotFound):
        cases.get(bravo.as_[Role.CASEWORKER], case.id)
    with pytest.raises(NotFound):
        cases.add_hashes(bravo.as_[Role.CASEWORKER], case.id, {SignalKind.MD5: "a" * 32})
    assert cases.list(bravo.as_[Role.ADMIN]) == []


def test_case_lifecycle(cases: CaseService, acme: Side, store: Store) -> None:
    worker = acme.as_[Role.CASEWORKER]
    case = cases.open(worker, title="A", language="en").case
    assert cases.set_status(worker, case.id, CaseStatus.CLOSED).closed_at is not None
    with pytest.raises(Conflict):
        cases.set_status(worker, case.id, CaseStatus.CLOSED)
    assert cases.set_status(worker, case.id, CaseStatus.OPEN).status is CaseStatus.OPEN
    assert _chain_ok(store) == 3


def test_items_by_hash(cases: CaseService, hosts: HostService, acme: Side) -> None:
    worker = acme.as_[Role.CASEWORKER]
    hosts.add(worker, HostSpec("telegram", "Telegram", "en",
                               (Contact(kind=ContactKind.EMAIL, value="abuse@t.example"),),
                               ("kcsc", "take_it_down")))  # fmt: skip
    case = cases.open(worker, title="A", language="en").case
    item = cases.add_hashes(
        worker, case.id, {SignalKind.PDQ: "F" * 64}, host="telegram", source="@channel_name"
    )
    assert item.status is ItemStatus.PENDING and item.signals == (
        {"type": "pdq", "value": "f" * 64},
    )
    assert item.host_id is not None and item.source_id is not None
    again = cases.add_hashes(worker, case.id, {SignalKind.MD5: "a" * 32}, source="@channel_name",
                             host="telegram")  # fmt: skip
    assert again.source_id == item.source_id
    with pytest.raises(InvalidHash):
        cases.add_hashes(worker, case.id, {SignalKind.PDQ: "xyz"})
    with pytest.raises(InvalidInput):
        cases.add_hashes(worker, case.id, {})
    with pytest.raises(NotFound):
        cases.add_hashes(worker, case.id, {SignalKind.MD5: "a" * 32}, host="nope")


def test_items_by_url_capture_sealed_evidence(
    cases: CaseService, acme: Side, store: Store, port: int
) -> None:
    worker = acme.as_[Role.CASEWORKER]
    case = cases.open(worker, title="A", language="en").case
    item = cases.add_url(worker, case.id, f"http://host.example:{port}/p/1.jpg")
    assert item.status is ItemStatus.PENDING
    assert item.capture is not None and item.capture["status"] == 200
    assert item.capture["address"] == "127.0.0.1"
    assert {s["type"] for s in item.signals} >= {"md5", "sha256"}
    sealed = store.blobs.read(str(item.capture["blob"]))
    assert JPEG not in sealed  # encrypted at rest
    assert cases.evidence(worker, item.id) == JPEG

    gone = cases.add_url(worker, case.id, f"http://host.example:{port}/missing")
    assert gone.status is ItemStatus.UNREACHABLE and "404" in (gone.reason or "")
    refused = cases.add_url(worker, case.id, "http://metadata.internal/latest")
    assert refused.status is ItemStatus.UNREACHABLE and "fetch_refused" in (refused.reason or "")
    assert len(cases.items(worker, case.id)) == 3


def test_several_urls_are_captured_together_in_order(
    cases: CaseService, hosts: HostService, acme: Side, store: Store, port: int
) -> None:
    worker = acme.as_[Role.CASEWORKER]
    hosts.add(
        worker, HostSpec("h", "H", "en", (Contact(kind=ContactKind.EMAIL, value="a@h.example"),))
    )
    case = cases.open(worker, title="A", language="en").case
    base = f"http://host.example:{port}"
    added = cases.add_urls(
        worker,
        case.id,
        [
            UrlItem(f"{base}/p/1.jpg", "h", "@one"),
            UrlItem(f"{base}/missing", "h", "@two"),
            UrlItem(f"{base}/p/1.jpg", None, None),
        ],
    )
    assert [i.url for i in added] == [f"{base}/p/1.jpg", f"{base}/missing", f"{base}/p/1.jpg"]
    assert [i.status for i in added] == [
        ItemStatus.PENDING,
        ItemStatus.UNREACHABLE,
        ItemStatus.PENDING,
    ]
    assert added[0].host_id == added[1].host_id is not None and added[2].host_id is None
    assert added[0].source_id != added[1].source_id and added[2].source_id is None
    assert cases.evidence(worker, added[2].id) == JPEG
    with store.session() as s:
        adds = [e for e in audit_repo.iter_all(s) if e.action == "add"]
    assert [e.entity_id for e in adds] == [i.id for i in added]
    # an unknown host refuses the whole list: nothing is written
    with pytest.raises(NotFound):
        cases.add_urls(
            worker, case.id, [UrlItem(f"{base}/p/1.jpg", "h"), UrlItem(f"{base}/x", "nope")]
        )
    assert len(cases.items(worker, case.id)) == 3


def test_hosts(hosts: HostService, acme: Side, bravo: Side) -> None:
    worker = acme.as_[Role.CASEWORKER]
    api = Contact(kind=ContactKind.API, value="https://partner.example/takedown")
    with pytest.raises(InvalidInput, match="secret"):
        hosts.add(worker, HostSpec("p", "Partner", "en", (api,)))
    host = hosts.add(worker, HostSpec("p", "Partner", "xx", (api,), api_secret="s3cret"))
    # a language without templates is kept as given: its notices are English, flagged
    assert host.language == "xx" and host.has_api_secret
    assert hosts.add(worker, HostSpec("k", "K", "ko-KR")).language == "ko"
    with pytest.raises(InvalidInput, match="language"):
        hosts.add(worker, HostSpec("k2", "K", "not a language"))
    assert hosts.api_secret(acme.tenant.id, host) == b"s3cret"
    with pytest.raises(Conflict):
        hosts.add(worker, HostSpec("p", "Partner", "en"))
    with pytest.raises(InvalidInput):
        hosts.add(worker, HostSpec("p2", "P", "en", bases=("unknown_law",)))
    with pytest.raises(InvalidInput):
        hosts.add(worker, HostSpec("Bad Slug!", "P", "en"))
    with pytest.raises(Forbidden):
        hosts.add(acme.as_[Role.PLATFORM], HostSpec("q", "Q", "en"))
    assert hosts.list(bravo.as_[Role.CASEWORKER]) == []
    assert "s3cret" not in host.model_dump_json()


def test_blob_gc_keeps_a_case_items_sealed_capture(
    cases: CaseService, acme: Side, store: Store, port: int
) -> None:
    """``jikimi blobs gc`` knows captures' rows: the evidence still reads after it."""
    from datetime import timedelta

    from jikimi.services._common import now
    from jikimi.services.blob_gc import collect

    worker = acme.as_[Role.CASEWORKER]
    case = cases.open(worker, title="A", language="en").case
    item = cases.add_url(worker, case.id, f"http://host.example:{port}/p/1.jpg")
    orphan = store.blobs.put(b"nobody names this one")
    report = collect(store, timedelta(0), delete=True, at=now() + timedelta(hours=1))
    assert report.deleted == 1 and not store.blobs.exists(orphan)
    assert cases.evidence(worker, item.id) == JPEG

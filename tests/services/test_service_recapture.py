"""Unreachable URLs: kept as ``unreachable`` with the reason, and tried again.

An item whose URL answers 404 or points at a refused address is recorded (nothing
else changes), a retry is queued, a caseworker's retry while it is still down
updates the reason, and the scheduled retry captures it once the page is back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from service_helpers import Side

from jikimi.audit.chain import verify
from jikimi.cases.lifecycle import ItemStatus
from jikimi.config import Settings
from jikimi.domain import Role
from jikimi.errors import Conflict
from jikimi.services.cases import RECAPTURE
from jikimi.services.casework import Casework
from jikimi.store import Store, outbox
from jikimi.store import audit as audit_repo
from pages_host import PagesHost, serve_pages

COFFEE = (Path(__file__).resolve().parents[2] / "src/jikimi/data/samples/coffee.jpg").read_bytes()


@pytest.fixture
def host() -> Iterator[PagesHost]:
    with serve_pages() as served:
        yield served


class Names:
    """A stub resolver: ``inside.example`` is a private address, the rest is loopback."""

    def resolve(self, host: str, port: int) -> list[str]:
        return ["10.1.2.3"] if host == "inside.example" else ["127.0.0.1"]


def test_unreachable_items_are_kept_and_retried(
    store: Store, settings: Settings, acme: Side, host: PagesHost
) -> None:
    worker = acme.as_[Role.CASEWORKER]
    settings = settings.model_copy(update={"capture_allow_networks": ["127.0.0.1/32"]})
    work = Casework.from_settings(settings, store, resolver=Names())
    case = work.cases.open(worker, title="A", language="en").case
    base = f"http://pics.example:{host.port}"

    down = work.cases.add_url(worker, case.id, f"{base}/a.jpg")
    assert down.status is ItemStatus.UNREACHABLE
    assert down.reason == "the host answered HTTP 404" and down.signals == ()
    refused = work.cases.add_url(worker, case.id, "http://inside.example/x.jpg")
    assert refused.status is ItemStatus.UNREACHABLE
    assert refused.reason is not None and refused.reason.startswith("fetch_refused:")
    with store.session() as s:
        queued = outbox.get(s, f"recapture:{down.id}:1")
    assert queued is not None and queued.kind == RECAPTURE

    # a caseworker tries again while it is still down: the same state, audited
    again = work.cases.recapture(worker, down.id)
    assert again.status is ItemStatus.UNREACHABLE and again.evidence_sha256 is None

    # the scheduled retry, once the page is there: captured, sealed, hashed
    host.pages["/a.jpg"] = COFFEE
    recapturer = work.recapturer()
    recapturer.clock = lambda: datetime.now(UTC) + timedelta(minutes=16)
    assert recapturer.run_until_idle() == 2  # both items' first retries
    got = work.cases.get_item(worker, down.id)
    assert got.status is ItemStatus.PENDING and got.reason is None
    assert got.evidence_sha256 is not None and {s["type"] for s in got.signals} >= {"md5"}
    assert work.cases.evidence(worker, down.id) == COFFEE
    still = work.cases.get_item(worker, refused.id)
    assert still.status is ItemStatus.UNREACHABLE
    with store.session() as s:
        assert outbox.get(s, f"recapture:{refused.id}:2") is not None  # the next retry
        assert outbox.get(s, f"recapture:{down.id}:2") is None  # captured: no more
        entries = list(audit_repo.iter_all(s))
    retries = [e for e in entries if e.action == "recapture" and e.entity_id == down.id]
    assert [e.data["status"] for e in retries] == ["unreachable", "pending"]
    assert retries[-1].actor == "system:recapture"
    assert verify(entries).ok

    with pytest.raises(Conflict, match="only an unreachable URL"):
        work.cases.recapture(worker, down.id)

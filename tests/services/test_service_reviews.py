"""The review queue on SQLite and PostgreSQL: held media kept sealed, previews, decisions."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from jikimi.config import Settings
from jikimi.domain import Action, Decision, Media, MediaKind, Principal, Priority, Role, Verdict
from jikimi.errors import Conflict, Forbidden, InvalidInput, NotFound
from jikimi.evidence import Sealer
from jikimi.media import MediaLimits
from jikimi.pipeline import Item
from jikimi.services import BankService, TenantService
from jikimi.services._common import now
from jikimi.services.cases import CaseService
from jikimi.services.reviews import HeldMedia, ReviewAction, ReviewService
from jikimi.store import Store
from jikimi.store import scans as scan_repo

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "jikimi" / "data" / "samples" / "rocket.jpg"


def _verdict(scan_id: str, action: Action, priority: Priority) -> Verdict:
    return Verdict(
        id=scan_id,
        media=Media(
            kind=MediaKind.IMAGE, format="jpeg", width=1, height=1, bytes=1, sha256="0" * 64
        ),
        decision=Decision(action=action, priority=priority, reasons=("test",)),
    )


@pytest.fixture
def world(
    store: Store, settings: Settings
) -> tuple[ReviewService, HeldMedia, Principal, Principal]:
    tenants = TenantService(store)
    a, _ = tenants.create("acme")
    b, _ = tenants.create("other")
    sealer = Sealer(b"s" * 32)
    held = HeldMedia(store, sealer, settings)
    reviews = ReviewService(
        store,
        held,
        BankService(store, settings=settings),
        CaseService(store, sealer),
        MediaLimits.from_settings(settings),
        settings,
    )
    return (
        reviews,
        held,
        Principal(tenant_id=a.id, key_id="usr_a", role=Role.REVIEWER),
        Principal(tenant_id=b.id, key_id="usr_b", role=Role.REVIEWER),
    )


def _scan(store: Store, held: HeldMedia, who: Principal, scan_id: str, verdict: Verdict) -> None:
    with store.session(write=True) as s, s.begin():
        scan_repo.save_scan(s, who.tenant_id, verdict, now(), [])
    held.keep(who, [Item(data=SAMPLE.read_bytes(), source={})], [verdict])


def test_only_held_media_is_kept_sealed_and_queued_by_priority(
    store: Store, world: tuple[ReviewService, HeldMedia, Principal, Principal]
) -> None:
    reviews, held, me, them = world
    _scan(store, held, me, "scn_normal", _verdict("scn_normal", Action.HOLD, Priority.NORMAL))
    _scan(store, held, me, "scn_urgent", _verdict("scn_urgent", Action.HOLD, Priority.URGENT))
    _scan(store, held, me, "scn_allowed", _verdict("scn_allowed", Action.ALLOW, Priority.LOW))
    assert [i.scan_id for i in reviews.queue(me)] == ["scn_urgent", "scn_normal"]
    assert reviews.queue(them) == []
    blobs = list(store.blobs.root.rglob("*"))
    sample = SAMPLE.read_bytes()
    assert all(sample[:4096] not in p.read_bytes() for p in blobs if p.is_file())  # sealed
    with pytest.raises(NotFound):
        reviews.preview(them, "scn_urgent")
    with pytest.raises(Forbidden):
        reviews.queue(Principal(tenant_id=me.tenant_id, key_id="k", role=Role.PLATFORM))


def test_preview_is_blurred_greyscale_and_sharp_only_after_an_unblur(
    store: Store, world: tuple[ReviewService, HeldMedia, Principal, Principal]
) -> None:
    reviews, held, me, _ = world
    _scan(store, held, me, "scn_1", _verdict("scn_1", Action.HOLD, Priority.HIGH))
    blurred = Image.open(io.BytesIO(reviews.preview(me, "scn_1")))
    assert blurred.mode == "L" and max(blurred.size) <= 480
    with pytest.raises(Forbidden):
        reviews.preview(me, "scn_1", unblurred=True)
    reviews.unblur(me, "scn_1")
    sharp = Image.open(io.BytesIO(reviews.preview(me, "scn_1", unblurred=True)))
    assert sharp.size == blurred.size
    other = Principal(tenant_id=me.tenant_id, key_id="usr_other", role=Role.REVIEWER)
    with pytest.raises(Forbidden):  # her un-blur is hers, not a colleague's
        reviews.preview(other, "scn_1", unblurred=True)


def test_decisions_retention_and_the_daily_cap(
    store: Store, world: tuple[ReviewService, HeldMedia, Principal, Principal]
) -> None:
    reviews, held, me, _ = world
    for n in (1, 2, 3):
        _scan(store, held, me, f"scn_{n}", _verdict(f"scn_{n}", Action.HOLD, Priority.HIGH))
    reviews.decide(me, "scn_1", ReviewAction.DISMISS)
    with pytest.raises(NotFound):  # a false positive's media is deleted at once
        reviews.preview(me, "scn_1")
    with pytest.raises(Conflict):
        reviews.decide(me, "scn_1", ReviewAction.ESCALATE)
    reviews.decide(me, "scn_2", ReviewAction.ESCALATE, reason="a minor?")
    assert [i.scan_id for i in reviews.queue(me)] == ["scn_3"]
    assert held.purge(now() + timedelta(days=31)) == 2  # scn_2 and scn_3
    with pytest.raises(NotFound):
        reviews.preview(me, "scn_3")
    assert reviews.queue(me)[0].has_media is False  # still decidable from the Verdict
    assert reviews.note_view(me, "scn_3", daily_cap=1) == 1
    assert reviews.note_view(me, "scn_3", daily_cap=1) == 1  # the same item again
    with pytest.raises(Forbidden):
        reviews.note_view(me, "scn_2", daily_cap=1)
    assert reviews.seen_today(me) == 1


def test_an_escalation_waits_for_another_reviewer(
    store: Store, world: tuple[ReviewService, HeldMedia, Principal, Principal]
) -> None:
    reviews, held, me, them = world
    senior = Principal(tenant_id=me.tenant_id, key_id="usr_senior", role=Role.ADMIN)
    for n in (1, 2):
        _scan(store, held, me, f"scn_{n}", _verdict(f"scn_{n}", Action.HOLD, Priority.HIGH))
    with pytest.raises(InvalidInput):  # a senior reviewer needs to know why
        reviews.decide(me, "scn_1", ReviewAction.ESCALATE, reason="  ")
    escalated = reviews.decide(me, "scn_1", ReviewAction.ESCALATE, reason="looks under 18")
    assert escalated.escalated_by == "usr_a" and escalated.escalation_reason == "looks under 18"
    assert [i.scan_id for i in reviews.queue(me)] == ["scn_2"]  # out of the main queue
    [(item, review)] = reviews.escalations(senior)
    assert item.scan_id == "scn_1" and item.has_media  # its preview stays for the senior
    assert review.escalated_by == "usr_a" and review.escalated_at is not None
    assert reviews.escalations(them) == []
    with pytest.raises(Forbidden):  # four eyes: not the one who escalated it
        reviews.decide(me, "scn_1", ReviewAction.DISMISS)
    with pytest.raises(Conflict):
        reviews.decide(senior, "scn_1", ReviewAction.ESCALATE, reason="again")
    with pytest.raises(NotFound):
        reviews.decide(them, "scn_1", ReviewAction.DISMISS)
    done = reviews.decide(senior, "scn_1", ReviewAction.DISMISS)
    assert done.decided_by == "usr_senior" and done.escalated_by == "usr_a"
    assert reviews.escalations(senior) == []
    [(_, resolved)] = reviews.escalations(senior, open_only=False)
    assert resolved.action is ReviewAction.DISMISS
    assert resolved.escalation_reason == "looks under 18"
    with pytest.raises(Conflict):
        reviews.decide(senior, "scn_1", ReviewAction.CONFIRM)


def test_blob_gc_keeps_a_held_scans_sealed_media(
    store: Store, world: tuple[ReviewService, HeldMedia, Principal, Principal]
) -> None:
    """``jikimi blobs gc`` knows held media's rows: the preview still works after it."""
    from jikimi.services.blob_gc import collect

    reviews, held, me, _ = world
    _scan(store, held, me, "scn_kept", _verdict("scn_kept", Action.HOLD, Priority.HIGH))
    orphan = store.blobs.put(b"nobody names this one")
    report = collect(store, timedelta(0), delete=True, at=now() + timedelta(hours=1))
    assert report.deleted == 1 and not store.blobs.exists(orphan)
    assert Image.open(io.BytesIO(reviews.preview(me, "scn_kept"))).mode == "L"

"""ScanService storage and retroactive matching, with the real pipeline, on both databases."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest
from PIL import Image
from service_helpers import Side

from jikimi.config import Settings
from jikimi.domain import (
    BankCreate,
    BankKind,
    EntryCreate,
    EntryStatus,
    Match,
    Role,
    Signal,
    SignalKind,
)
from jikimi.errors import Forbidden, NotFound
from jikimi.pipeline import Item, Matcher
from jikimi.services import BankService
from jikimi.services.matching import MatchService
from jikimi.services.retro import RetroMatcher
from jikimi.services.scans import LazyScanner, ScanService
from jikimi.store import Store


@pytest.fixture(scope="module")
def scanner() -> LazyScanner:
    return LazyScanner(Settings())


def picture(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(blocks).resize((256, 256), Image.Resampling.NEAREST).save(out, "JPEG")
    return out.getvalue()


class World:
    def __init__(self, store: Store, settings: Settings, scanner: LazyScanner) -> None:
        settings = settings.model_copy(update={"retro_settle_s": 0.0})
        self.retro = RetroMatcher(store, settings)
        self.matching = MatchService(store, settings, on_applied=self.retro.notify)
        self.matching.load()
        self.banks = BankService(store, settings=settings, listener=self.matching)
        self.scans = ScanService(store, scanner, self.matching.matcher_for)
        self.retro.watermark()  # start of history, as at service start


@pytest.fixture
def world(store: Store, settings: Settings, scanner: LazyScanner) -> Iterator[World]:
    w = World(store, settings, scanner)
    yield w
    w.retro.close()
    w.matching.close()


def test_scans_are_stored_per_tenant(world: World, acme: Side, bravo: Side) -> None:
    [verdict] = world.scans.scan_many(acme.as_[Role.PLATFORM], [Item(picture(1), {"n": 1})])
    assert verdict.error is None
    assert world.scans.get(acme.as_[Role.REVIEWER], verdict.id) == verdict
    with pytest.raises(NotFound):
        world.scans.get(bravo.as_[Role.ADMIN], verdict.id)
    with pytest.raises(Forbidden):
        world.scans.scan_many(acme.as_[Role.CASEWORKER], [Item(picture(1), {})])


def test_an_unreadable_upload_is_answered_not_stored(world: World, acme: Side) -> None:
    [verdict] = world.scans.scan_many(acme.as_[Role.PLATFORM], [Item(b"not an image", {})])
    assert verdict.error is not None
    with pytest.raises(NotFound):
        world.scans.get(acme.as_[Role.ADMIN], verdict.id)


def test_scan_time_matching_uses_the_callers_banks(world: World, acme: Side) -> None:
    admin = acme.as_[Role.ADMIN]
    world.banks.create(admin, BankCreate(name="KNOWN", kind=BankKind.TAKEDOWN))
    image = picture(7)
    entry = world.banks.add_media_entry(admin, "KNOWN", image)
    [verdict] = world.scans.scan_many(admin, [Item(image, {})])
    assert [(m.bank, m.entry, m.distance) for m in verdict.matches] == [("KNOWN", entry.id, 0)]
    assert verdict.decision is not None and verdict.decision.action.value == "remove"


def test_entries_added_later_match_stored_scans(world: World, acme: Side, bravo: Side) -> None:
    admin = acme.as_[Role.ADMIN]
    image, other = picture(11), picture(12)
    [seen] = world.scans.scan_many(admin, [Item(image, {})])
    [unrelated] = world.scans.scan_many(admin, [Item(other, {})])
    [elsewhere] = world.scans.scan_many(bravo.as_[Role.ADMIN], [Item(image, {})])
    assert seen.matches == ()

    world.banks.create(admin, BankCreate(name="LATER", kind=BankKind.TAKEDOWN))
    pdq = seen.signal(SignalKind.PDQ)
    md5 = seen.signal(SignalKind.MD5)
    assert pdq is not None and md5 is not None
    near = f"{int(pdq.value, 16) ^ 0b111:064x}"  # 3 bits away
    by_pdq = world.banks.add_entry(admin, "LATER", EntryCreate(signal=SignalKind.PDQ, value=near))
    by_md5 = world.banks.add_entry(
        admin, "LATER", EntryCreate(signal=SignalKind.MD5, value=md5.value)
    )
    while world.retro.run_once():
        pass

    later = world.scans.get(admin, seen.id).matches
    assert sorted((m.entry, m.distance) for m in later) == sorted([(by_pdq.id, 3), (by_md5.id, 0)])
    assert world.scans.get(admin, unrelated.id).matches == ()
    # Another tenant's scan of the same image: the bank is not theirs.
    assert world.scans.get(bravo.as_[Role.ADMIN], elsewhere.id).matches == ()

    # Running again records nothing twice; a withdrawn entry's late match is hidden.
    assert world.retro.run_once() is False
    world.banks.set_status(admin, "LATER", by_md5.id, EntryStatus.WITHDRAWN)
    assert [m.entry for m in world.scans.get(admin, seen.id).matches] == [by_pdq.id]


def test_the_background_thread_records_matches(
    world: World, acme: Side, settings: Settings
) -> None:
    admin = acme.as_[Role.ADMIN]
    [seen] = world.scans.scan_many(admin, [Item(picture(21), {})])
    world.retro.start()
    world.banks.create(admin, BankCreate(name="BG", kind=BankKind.WATCH))
    pdq = seen.signal(SignalKind.PDQ)
    assert pdq is not None
    entry = world.banks.add_entry(admin, "BG", EntryCreate(signal=SignalKind.PDQ, value=pdq.value))
    deadline = time.monotonic() + 20
    while not world.scans.get(admin, seen.id).matches:
        assert time.monotonic() < deadline, "no retroactive match recorded"
        time.sleep(0.05)
    assert [m.entry for m in world.scans.get(admin, seen.id).matches] == [entry.id]


def test_the_watermark_survives_a_restart(
    store: Store, settings: Settings, scanner: LazyScanner, acme: Side
) -> None:
    first = World(store, settings, scanner)
    admin = acme.as_[Role.ADMIN]
    first.banks.create(admin, BankCreate(name="WM", kind=BankKind.WATCH))
    first.banks.add_entry(admin, "WM", EntryCreate(signal=SignalKind.MD5, value="0" * 32))
    assert first.retro.run_once() is True
    mark = first.retro.watermark()
    first.retro.close()
    first.matching.close()
    second = RetroMatcher(store, settings)
    assert second.watermark() == mark
    assert second.run_once() is False


def test_an_entry_added_while_a_scan_runs_is_found_afterwards(
    world: World, acme: Side, store: Store, scanner: LazyScanner
) -> None:
    """The bank lookup has happened, the Verdict is not stored yet: the entry arrives."""
    admin = acme.as_[Role.ADMIN]
    world.banks.create(admin, BankCreate(name="RACE", kind=BankKind.TAKEDOWN))
    image = picture(41)
    added: list[str] = []

    class LateEntry:
        def __init__(self, inner: Matcher) -> None:
            self.inner = inner

        def match(
            self,
            signals: Sequence[Signal],
            dihedral: Callable[[], Sequence[str]],
            variants: Callable[[], Sequence[object]] = tuple,
        ) -> tuple[Match, ...]:
            found = self.inner.match(signals, dihedral, variants)
            md5 = next(s.value for s in signals if s.type is SignalKind.MD5)
            entry = world.banks.add_entry(
                admin, "RACE", EntryCreate(signal=SignalKind.MD5, value=md5)
            )
            added.append(entry.id)
            return found

    racing = ScanService(store, scanner, lambda p: LateEntry(world.matching.matcher_for(p)))
    [verdict] = racing.scan_many(admin, [Item(image, {})])
    assert verdict.matches == ()  # looked up before the entry existed
    while world.retro.run_once():
        pass
    assert [m.entry for m in world.scans.get(admin, verdict.id).matches] == added


def test_late_matches_show_only_while_the_entry_is_active(world: World, acme: Side) -> None:
    admin = acme.as_[Role.ADMIN]
    [seen] = world.scans.scan_many(admin, [Item(picture(51), {})])
    world.banks.create(admin, BankCreate(name="TOGGLE", kind=BankKind.WATCH))
    md5 = seen.signal(SignalKind.MD5)
    assert md5 is not None
    entry = world.banks.add_entry(
        admin, "TOGGLE", EntryCreate(signal=SignalKind.MD5, value=md5.value)
    )
    world.banks.set_status(admin, "TOGGLE", entry.id, EntryStatus.DISABLED)
    while world.retro.run_once():
        pass
    assert world.scans.get(admin, seen.id).matches == ()
    world.banks.set_status(admin, "TOGGLE", entry.id, EntryStatus.ACTIVE)
    assert [m.entry for m in world.scans.get(admin, seen.id).matches] == [entry.id]


def test_late_matches_of_an_unshared_bank_disappear(world: World, acme: Side, bravo: Side) -> None:
    owner, other = acme.as_[Role.ADMIN], bravo.as_[Role.ADMIN]
    world.banks.create(owner, BankCreate(name="LENT", kind=BankKind.WATCH))
    world.banks.share(owner, "LENT", "bravo")
    [seen] = world.scans.scan_many(other, [Item(picture(61), {})])
    md5 = seen.signal(SignalKind.MD5)
    assert md5 is not None
    world.banks.add_entry(owner, "LENT", EntryCreate(signal=SignalKind.MD5, value=md5.value))
    while world.retro.run_once():
        pass
    assert len(world.scans.get(other, seen.id).matches) == 1
    world.banks.unshare(owner, "LENT", "bravo")
    assert world.scans.get(other, seen.id).matches == ()

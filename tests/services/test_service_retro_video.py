"""Retroactive matching of stored video scans against videos banked later, on both databases.

One test runs the whole way on a real video (scanned by the pipeline, Meta's
reference vPDQ of it banked afterwards); the others store scans with short lists of
random frame hashes, since which frames match is the point there, not decoding.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from service_helpers import Side, make_side

import jikimi.services.retro as retro_module
from jikimi.config import Settings
from jikimi.domain import (
    BankCreate,
    BankKind,
    EntryCreate,
    Match,
    Principal,
    Role,
    Signal,
    SignalKind,
    Verdict,
)
from jikimi.ids import new_id
from jikimi.pipeline import Item
from jikimi.services import BankService
from jikimi.services._common import now
from jikimi.services.matching import MatchService
from jikimi.services.retro import RetroMatcher
from jikimi.services.scans import LazyScanner, ScanService, scan_keys
from jikimi.signals.vpdq import FrameHash, format_vpdq
from jikimi.store import Store
from jikimi.store import scans as scan_repo

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "vpdq"
DOORKNOB = "doorknob-hd-no-bar"  # 4 s, 1280 x 720: four hashed frames at one a second


@pytest.fixture(scope="module")
def scanner() -> LazyScanner:
    return LazyScanner(Settings())


class World:
    """The services of one API process, retroactive matching without the settling wait."""

    def __init__(self, store: Store, settings: Settings, scanner: LazyScanner) -> None:
        settings = settings.model_copy(update={"retro_settle_s": 0.0})
        self.store = store
        self.retro = RetroMatcher(store, settings)
        self.matching = MatchService(store, settings, on_applied=self.retro.notify)
        self.matching.load()
        self.banks = BankService(store, settings=settings, listener=self.matching)
        self.scans = ScanService(store, scanner, self.matching.matcher_for)
        self.retro.watermark()  # start of history, as at service start

    def run(self) -> None:
        while self.retro.run_once():
            pass

    def store_scan(self, side: Side, frames: Sequence[FrameHash], at: datetime) -> str:
        """A video scan as ScanService stores it (MD5, SHA-256, vPDQ; no PDQ), made at ``at``."""
        verdict = Verdict(id=new_id("scn"), signals=video_signals(frames), matches=())
        with self.store.session(write=True) as s, s.begin():
            scan_repo.save_scan(s, side.tenant.id, verdict, at, scan_keys(verdict))
        return verdict.id

    def late(self, who: Principal, scan_id: str) -> tuple[Match, ...]:
        return self.scans.get(who, scan_id).matches or ()


@pytest.fixture
def world(store: Store, settings: Settings, scanner: LazyScanner) -> Iterator[World]:
    w = World(store, settings, scanner)
    yield w
    w.retro.close()
    w.matching.close()


def frames(seed: int, count: int) -> list[FrameHash]:
    """``count`` random frame hashes (pairwise ~128 bits apart: none within a threshold)."""
    rng = np.random.default_rng(seed)
    return [
        FrameHash(frame=i, t_s=float(i), quality=100, pdq=rng.bytes(32).hex()) for i in range(count)
    ]


def renumbered(picked: Sequence[FrameHash]) -> list[FrameHash]:
    """The same hashes as consecutive frames of one video, one a second."""
    return [
        FrameHash(frame=i, t_s=float(i), quality=f.quality, pdq=f.pdq) for i, f in enumerate(picked)
    ]


def video_signals(hashes: Sequence[FrameHash]) -> tuple[Signal, ...]:
    """What a video's Verdict holds (digests of the vPDQ text stand in for the file's)."""
    text = format_vpdq(hashes)
    return (
        Signal(type=SignalKind.MD5, value=hashlib.md5(text.encode()).hexdigest()),
        Signal(type=SignalKind.SHA256, value=hashlib.sha256(text.encode()).hexdigest()),
        Signal(type=SignalKind.VPDQ, value=text),
    )


def before_now() -> datetime:
    return now() - timedelta(seconds=1)


def test_a_scanned_video_matches_its_reference_hashes_banked_later(
    world: World, acme: Side, bravo: Side
) -> None:
    """The pipeline's hashes (one frame a second) against Meta's (every frame)."""
    path = CONFORMANCE / f"{DOORKNOB}.mp4"
    if not path.is_file():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    admin, outsider = acme.as_[Role.ADMIN], bravo.as_[Role.ADMIN]
    data = path.read_bytes()
    [seen] = world.scans.scan_many(admin, [Item(data, {})])
    [elsewhere] = world.scans.scan_many(outsider, [Item(data, {})])
    assert seen.error is None and seen.signal(SignalKind.VPDQ) is not None
    assert seen.matches == ()
    mark = world.retro.watermark()

    world.banks.create(admin, BankCreate(name="VIDEOS", kind=BankKind.TAKEDOWN))
    reference = (CONFORMANCE / f"{DOORKNOB}.vpdq.txt").read_text()
    entry = world.banks.add_vpdq_entry(admin, "VIDEOS", reference)
    world.run()

    [late] = world.late(admin, seen.id)
    assert (late.bank, late.signal, late.entry) == ("VIDEOS", SignalKind.VPDQ, entry.id)
    assert 0 <= late.distance <= 6  # the conformance bound for frames of quality >= 80
    assert late.query_share is None and late.index_share is None  # not stored for late matches
    # As the scan would have found it had the entry been there (same entry, same distance).
    live = world.matching.match_item(admin, seen.signals or (), list)
    assert [(m.entry, m.distance) for m in live] == [(entry.id, late.distance)]
    assert world.late(outsider, elsewhere.id) == ()  # the bank is not bravo's

    # Done again from an earlier watermark (as after a crash): nothing recorded twice.
    recorded = world.retro.recorded
    world.retro.set_watermark(mark)
    assert world.retro.run_once() is True
    assert world.retro.recorded == recorded
    assert world.late(admin, seen.id) == (late,)


def test_the_banks_shares_decide_as_when_scanning(world: World, acme: Side) -> None:
    """A scan with 3 of its 4 frames in a banked video that has 3 of its 6 frames in the
    scan: query share 0.75, index share 0.5, checked against each bank's percentages."""
    admin = acme.as_[Role.ADMIN]
    shared, only_scan, only_bank = frames(1, 3), frames(2, 1), frames(3, 3)
    scanned = renumbered([*shared, *only_scan])
    banked = renumbered([*shared, *only_bank])
    scan_id = world.store_scan(acme, scanned, before_now())
    percentages = {
        "DEFAULT": (80, 0),  # 0.75 < 0.80
        "LOOSE": (50, 0),
        "EDGE": (75, 0),  # exactly the share: matches (>=, as when scanning)
        "STRICT": (100, 0),  # the scan has a frame the banked video lacks
        "WHOLE": (50, 60),  # only half the banked video is in the scan
    }
    entry_bank: dict[str, str] = {}
    for name, (query_pct, index_pct) in percentages.items():
        world.banks.create(
            admin,
            BankCreate(
                name=name,
                kind=BankKind.WATCH,
                vpdq_query_pct=query_pct,
                vpdq_index_pct=index_pct,
            ),
        )
        entry = world.banks.add_vpdq_entry(admin, name, format_vpdq(banked))
        entry_bank[entry.id] = name
    world.run()

    late = world.late(admin, scan_id)
    assert sorted(m.bank for m in late) == ["EDGE", "LOOSE"]
    assert all(m.distance == 0 and entry_bank[m.entry] == m.bank for m in late)
    signals = video_signals(scanned)
    live = world.matching.match_item(admin, signals, list)
    assert sorted((m.bank, m.entry) for m in live) == sorted((m.bank, m.entry) for m in late)


def test_a_near_frame_matches_within_the_bank_threshold(world: World, acme: Side) -> None:
    admin = acme.as_[Role.ADMIN]
    banked = frames(4, 2)
    near = [
        FrameHash(f.frame, f.t_s, f.quality, f"{int(f.pdq, 16) ^ (2**bits - 1):064x}")
        for f, bits in zip(banked, (5, 12), strict=True)
    ]  # 5 and 12 bits from the banked frames
    scan_id = world.store_scan(acme, near, before_now())
    world.banks.create(admin, BankCreate(name="NEAR", kind=BankKind.WATCH, pdq_threshold=10))
    world.banks.create(admin, BankCreate(name="FAR", kind=BankKind.WATCH, pdq_threshold=12))
    world.banks.add_vpdq_entry(admin, "NEAR", format_vpdq(banked))  # 1 frame of 2: 50 %
    entry = world.banks.add_vpdq_entry(admin, "FAR", format_vpdq(banked))
    world.run()
    assert [(m.bank, m.entry, m.distance) for m in world.late(admin, scan_id)] == [
        ("FAR", entry.id, 5)
    ]


def test_only_earlier_scans_of_tenants_that_see_the_bank_are_matched(
    world: World, acme: Side, bravo: Side, store: Store
) -> None:
    owner, sharee = acme.as_[Role.ADMIN], bravo.as_[Role.ADMIN]
    charlie = make_side(store, "charlie")
    video = frames(5, 4)
    world.banks.create(owner, BankCreate(name="LENT", kind=BankKind.WATCH))
    mine = world.store_scan(acme, video, before_now())
    theirs = world.store_scan(bravo, video, before_now())
    outsider = world.store_scan(charlie, video, before_now())
    entry = world.banks.add_vpdq_entry(owner, "LENT", format_vpdq(video))
    # Stored after the entry was added (its scan started later): the scan saw the entry.
    afterwards = world.store_scan(acme, video, now() + timedelta(seconds=1))
    world.banks.share(owner, "LENT", "bravo")  # shared after the entry, before the check
    world.run()

    assert [m.entry for m in world.late(owner, mine)] == [entry.id]
    assert [m.entry for m in world.late(sharee, theirs)] == [entry.id]
    assert world.late(charlie.as_[Role.ADMIN], outsider) == ()
    assert world.late(owner, afterwards) == ()


@pytest.mark.parametrize("per_pass", [100, 1])
def test_a_scan_stored_between_two_new_videos_is_matched_with_the_later_only(
    world: World, acme: Side, per_pass: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both videos are checked in one batch (in one pass, or one pass each when
    passes are cut short); the scan had already been matched against the first one
    when it was made."""
    monkeypatch.setattr(retro_module, "VIDEOS_PER_PASS", per_pass)
    admin = acme.as_[Role.ADMIN]
    clip = frames(9, 2)
    world.banks.create(admin, BankCreate(name="TWO", kind=BankKind.WATCH))
    world.banks.add_vpdq_entry(admin, "TWO", format_vpdq(renumbered([*clip, *frames(10, 2)])))
    scan_id = world.store_scan(acme, clip, now())
    second = world.banks.add_vpdq_entry(
        admin, "TWO", format_vpdq(renumbered([*clip, *frames(11, 2)]))
    )
    world.run()
    assert [m.entry for m in world.late(admin, scan_id)] == [second.id]


def test_videos_and_hashes_added_together_are_all_checked(world: World, acme: Side) -> None:
    """One page of changes with a video and an MD5 for the same scan: both found once."""
    admin = acme.as_[Role.ADMIN]
    video = frames(6, 3)
    scan_id = world.store_scan(acme, video, before_now())
    md5 = video_signals(video)[0].value
    world.banks.create(admin, BankCreate(name="BOTH", kind=BankKind.TAKEDOWN))
    by_video = world.banks.add_vpdq_entry(admin, "BOTH", format_vpdq(video))
    by_md5 = world.banks.add_entry(admin, "BOTH", EntryCreate(signal=SignalKind.MD5, value=md5))
    world.run()
    late = world.late(admin, scan_id)
    assert sorted((m.signal, m.entry) for m in late) == sorted(
        [(SignalKind.VPDQ, by_video.id), (SignalKind.MD5, by_md5.id)]
    )


def test_a_stored_scan_with_a_bad_vpdq_signal_is_skipped(
    world: World, acme: Side, caplog: pytest.LogCaptureFixture
) -> None:
    admin = acme.as_[Role.ADMIN]
    video = frames(7, 3)
    broken = Verdict(
        id=new_id("scn"),
        signals=(
            Signal(type=SignalKind.SHA256, value="ab" * 32),
            Signal(type=SignalKind.VPDQ, value="0,100,not-a-hash,0.000"),
        ),
    )
    with world.store.session(write=True) as s, s.begin():
        # a row as if its key had been computed: the Verdict's text no longer parses
        scan_repo.save_scan(s, acme.tenant.id, broken, before_now(), [(SignalKind.VPDQ, "0" * 64)])
    good = world.store_scan(acme, video, before_now())
    world.banks.create(admin, BankCreate(name="SKIP", kind=BankKind.WATCH))
    entry = world.banks.add_vpdq_entry(admin, "SKIP", format_vpdq(video))
    with caplog.at_level(logging.WARNING, logger="jikimi.services.retro"):
        world.run()
    assert [m.entry for m in world.late(admin, good)] == [entry.id]
    assert world.late(admin, broken.id) == ()
    assert any(
        broken.id in r.getMessage() and "vPDQ line 1" in r.getMessage() for r in caplog.records
    )


def test_video_scans_are_read_by_their_vpdq_rows(world: World, acme: Side, bravo: Side) -> None:
    """Image scans (a PDQ) and scans without a vPDQ signal are left out in the query."""
    start = now() - timedelta(minutes=5)
    video = frames(8, 2)
    image = Verdict(
        id=new_id("scn"),
        signals=(
            Signal(type=SignalKind.PDQ, value="f" * 64, quality=100),
            Signal(type=SignalKind.MD5, value="1" * 32),
            Signal(type=SignalKind.SHA256, value="2" * 64),
        ),
    )
    no_vpdq = Verdict(id=new_id("scn"), signals=(Signal(type=SignalKind.SHA256, value="3" * 64),))
    with world.store.session(write=True) as s, s.begin():
        scan_repo.save_scan(s, acme.tenant.id, image, start, scan_keys(image))
        scan_repo.save_scan(s, acme.tenant.id, no_vpdq, start, scan_keys(no_vpdq))
    second = world.store_scan(acme, video, start + timedelta(seconds=2))
    first = world.store_scan(acme, video, start + timedelta(seconds=1))
    world.store_scan(acme, video, start + timedelta(seconds=3))  # not before the limit
    world.store_scan(bravo, video, start)  # another tenant
    with world.store.session() as s, s.begin():
        found = list(
            scan_repo.iter_scan_signals(
                s,
                [acme.tenant.id],
                SignalKind.VPDQ,
                before=start + timedelta(seconds=3),
                full=True,
                batch_size=1,
            )
        )
    assert [scan.scan_id for scan in found] == [first, second]
    assert {scan.value for scan in found} == {format_vpdq(video)}

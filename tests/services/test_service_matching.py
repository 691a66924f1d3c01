"""MatchService: bank indexes in step with the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from service_helpers import Side

from jikimi.config import Settings
from jikimi.domain import (
    BankCreate,
    BankKind,
    BankUpdate,
    Entry,
    EntryCreate,
    EntryStatus,
    Role,
    Signal,
    SignalKind,
)
from jikimi.errors import Forbidden, InvalidHash
from jikimi.matching.bank_index import BankIndex
from jikimi.matching.bank_snapshot import BankSnapshot
from jikimi.services import BankService
from jikimi.services.matching import MatchService
from jikimi.store import Store
from jikimi.store import entries as entry_repo


def random_pdq() -> str:
    return secrets.token_hex(32)


def flip(pdq: str, bits: int) -> str:
    """``pdq`` with its first ``bits`` bits inverted (exactly that Hamming distance)."""
    value = int(pdq, 16) ^ ((1 << 256) - (1 << (256 - bits)))
    return f"{value:064x}"


@pytest.fixture
def matching(store: Store, settings: Settings) -> Iterator[MatchService]:
    service = MatchService(store, settings)
    service.load()
    yield service
    service.close()


@pytest.fixture
def wired(store: Store, settings: Settings, matching: MatchService) -> BankService:
    """A BankService that tells the matching service about its changes (the API's wiring)."""
    return BankService(store, settings=settings, listener=matching)


def pdq_signal(value: str) -> Signal:
    return Signal(type=SignalKind.PDQ, value=value)


def test_a_hash_added_matches_within_the_bank_threshold_only(
    wired: BankService, matching: MatchService, acme: Side
) -> None:
    admin = acme.as_[Role.ADMIN]
    wired.create(admin, BankCreate(name="STRICT", kind=BankKind.TAKEDOWN, pdq_threshold=10))
    wired.create(admin, BankCreate(name="LOOSE", kind=BankKind.WATCH))
    pdq = random_pdq()
    strict = wired.add_entry(admin, "STRICT", EntryCreate(signal=SignalKind.PDQ, value=pdq))
    loose = wired.add_entry(admin, "LOOSE", EntryCreate(signal=SignalKind.PDQ, value=pdq))

    near, far, beyond = flip(pdq, 10), flip(pdq, 20), flip(pdq, 32)
    results = matching.match_hashes(
        acme.as_[Role.PLATFORM], [pdq_signal(x) for x in (pdq, near, far, beyond)]
    )
    found = [[(m.bank, m.entry, m.distance) for m in r] for r in results]
    assert found[0] == [("LOOSE", loose.id, 0), ("STRICT", strict.id, 0)]
    assert found[1] == [("LOOSE", loose.id, 10), ("STRICT", strict.id, 10)]
    assert found[2] == [("LOOSE", loose.id, 20)]
    assert found[3] == []


def test_digests_match_exactly_in_either_case(
    wired: BankService, matching: MatchService, acme: Side
) -> None:
    admin = acme.as_[Role.ADMIN]
    wired.create(admin, BankCreate(name="DIGESTS", kind=BankKind.TAKEDOWN))
    md5, sha = secrets.token_hex(16), secrets.token_hex(32)
    wired.add_entry(admin, "DIGESTS", EntryCreate(signal=SignalKind.MD5, value=md5))
    wired.add_entry(admin, "DIGESTS", EntryCreate(signal=SignalKind.SHA256, value=sha))
    results = matching.match_hashes(
        admin,
        [
            Signal(type=SignalKind.MD5, value=md5.upper()),
            Signal(type=SignalKind.SHA256, value=sha),
            Signal(type=SignalKind.SHA256, value=secrets.token_hex(32)),
        ],
    )
    assert [len(r) for r in results] == [1, 1, 0]
    assert results[0][0].signal == SignalKind.MD5 and results[0][0].distance == 0


def test_withdrawn_and_disabled_stop_matching_at_once(
    wired: BankService, matching: MatchService, acme: Side
) -> None:
    admin = acme.as_[Role.ADMIN]
    wired.create(admin, BankCreate(name="KCSC", kind=BankKind.TAKEDOWN))
    a, b = random_pdq(), random_pdq()
    entry_a = wired.add_entry(admin, "KCSC", EntryCreate(signal=SignalKind.PDQ, value=a))
    entry_b = wired.add_entry(admin, "KCSC", EntryCreate(signal=SignalKind.PDQ, value=b))

    wired.set_status(admin, "KCSC", entry_a.id, EntryStatus.WITHDRAWN)
    wired.set_status(admin, "KCSC", entry_b.id, EntryStatus.DISABLED)
    assert matching.match_hashes(admin, [pdq_signal(a), pdq_signal(b)]) == [[], []]

    wired.set_status(admin, "KCSC", entry_b.id, EntryStatus.ACTIVE)
    assert [len(r) for r in matching.match_hashes(admin, [pdq_signal(a), pdq_signal(b)])] == [0, 1]

    wired.update(admin, "KCSC", BankUpdate(enabled=False))
    assert matching.match_hashes(admin, [pdq_signal(b)]) == [[]]


def test_tenants_see_their_own_and_shared_banks_only(
    wired: BankService, matching: MatchService, acme: Side, bravo: Side
) -> None:
    admin = acme.as_[Role.ADMIN]
    wired.create(admin, BankCreate(name="PRIVATE", kind=BankKind.WATCH))
    pdq = random_pdq()
    wired.add_entry(admin, "PRIVATE", EntryCreate(signal=SignalKind.PDQ, value=pdq))
    other = bravo.as_[Role.PLATFORM]
    assert matching.match_hashes(other, [pdq_signal(pdq)]) == [[]]

    wired.share(admin, "PRIVATE", "bravo")
    assert [m.bank for m in matching.match_hashes(other, [pdq_signal(pdq)])[0]] == ["PRIVATE"]

    wired.unshare(admin, "PRIVATE", "bravo")
    assert matching.match_hashes(other, [pdq_signal(pdq)]) == [[]]


def test_roles_and_bad_hashes_are_refused(matching: MatchService, acme: Side) -> None:
    with pytest.raises(Forbidden):
        matching.match_hashes(acme.as_[Role.CASEWORKER], [pdq_signal(random_pdq())])
    with pytest.raises(InvalidHash):
        matching.match_hashes(acme.as_[Role.PLATFORM], [pdq_signal("abc")])


def test_changes_made_elsewhere_arrive_by_refresh(
    store: Store, settings: Settings, matching: MatchService, acme: Side
) -> None:
    """The CLI (another process) writes without telling this one: the poll picks it up."""
    cli = BankService(store, settings=settings)  # no listener
    admin = acme.as_[Role.ADMIN]
    cli.create(admin, BankCreate(name="FROM_CLI", kind=BankKind.TAKEDOWN))
    pdq = random_pdq()
    entry = cli.add_entry(admin, "FROM_CLI", EntryCreate(signal=SignalKind.PDQ, value=pdq))
    assert matching.match_hashes(admin, [pdq_signal(pdq)]) == [[]]
    matching.refresh()
    assert [m.entry for m in matching.match_hashes(admin, [pdq_signal(pdq)])[0]] == [entry.id]

    cli.set_status(admin, "FROM_CLI", entry.id, EntryStatus.WITHDRAWN)
    matching.refresh()
    assert matching.match_hashes(admin, [pdq_signal(pdq)]) == [[]]


def test_background_thread_polls(store: Store, settings: Settings, acme: Side) -> None:
    service = MatchService(store, settings.model_copy(update={"match_poll_s": 0.05}))
    service.start()
    try:
        assert service.wait_ready(30)
        cli = BankService(store, settings=settings)
        admin = acme.as_[Role.ADMIN]
        cli.create(admin, BankCreate(name="POLLED", kind=BankKind.WATCH))
        pdq = random_pdq()
        cli.add_entry(admin, "POLLED", EntryCreate(signal=SignalKind.PDQ, value=pdq))
        deadline = time.monotonic() + 10
        while not service.match_hashes(admin, [pdq_signal(pdq)])[0]:
            assert time.monotonic() < deadline, "the poll never applied the change"
            time.sleep(0.05)
        assert len(service.match_hashes(admin, [pdq_signal(pdq)])[0]) == 1
    finally:
        service.close()


def snapshotted_bank(
    store: Store, settings: Settings, side: Side, name: str, hashes: list[str]
) -> tuple[Path, list[Entry]]:
    """A bank of ``hashes`` added through a matching service that then shut down
    (which snapshots it); returns its PDQ snapshot file and the entries."""
    admin = side.as_[Role.ADMIN]
    service = MatchService(store, settings)
    service.load()
    wired = BankService(store, settings=settings, listener=service)
    bank = wired.create(admin, BankCreate(name=name, kind=BankKind.TAKEDOWN))
    entries = [
        wired.add_entry(admin, name, EntryCreate(signal=SignalKind.PDQ, value=h)) for h in hashes
    ]
    service.close()
    snap = Path(settings.data_dir) / "index" / bank.id / "pdq.snap"
    assert snap.is_file()
    return snap, entries


def test_restart_loads_the_snapshot_and_replays_newer_changes(
    store: Store, settings: Settings, acme: Side
) -> None:
    admin = acme.as_[Role.ADMIN]
    kept, withdrawn, later = random_pdq(), random_pdq(), random_pdq()
    _, [_, gone] = snapshotted_bank(store, settings, acme, "SNAP", [kept, withdrawn])

    # While "down": changes straight to the database.
    cli = BankService(store, settings=settings)
    cli.set_status(admin, "SNAP", gone.id, EntryStatus.WITHDRAWN)
    cli.add_entry(admin, "SNAP", EntryCreate(signal=SignalKind.PDQ, value=later))

    second = MatchService(store, settings)
    second.load()
    try:
        results = second.match_hashes(admin, [pdq_signal(x) for x in (kept, withdrawn, later)])
        assert [len(r) for r in results] == [1, 0, 1]
    finally:
        second.close()


def test_a_corrupt_snapshot_is_rebuilt_from_the_database(
    store: Store, settings: Settings, acme: Side
) -> None:
    admin = acme.as_[Role.ADMIN]
    pdq = random_pdq()
    snap, _ = snapshotted_bank(store, settings, acme, "BROKEN", [pdq])
    data = bytearray(snap.read_bytes())
    data[-1] ^= 0xFF
    snap.write_bytes(bytes(data))

    second = MatchService(store, settings)
    second.load()
    try:
        assert len(second.match_hashes(admin, [pdq_signal(pdq)])[0]) == 1
    finally:
        second.close()


def test_raising_a_threshold_past_31_reindexes_the_bank(
    wired: BankService, matching: MatchService, acme: Side
) -> None:
    admin = acme.as_[Role.ADMIN]
    wired.create(admin, BankCreate(name="WIDE", kind=BankKind.WATCH))
    pdq = random_pdq()
    wired.add_entry(admin, "WIDE", EntryCreate(signal=SignalKind.PDQ, value=pdq))
    assert matching.match_hashes(admin, [pdq_signal(flip(pdq, 40))]) == [[]]
    wired.update(admin, "WIDE", BankUpdate(pdq_threshold=48))
    assert [m.distance for m in matching.match_hashes(admin, [pdq_signal(flip(pdq, 40))])[0]] == [
        40
    ]


def test_deleting_a_bank_drops_its_matches(
    wired: BankService, matching: MatchService, acme: Side
) -> None:
    admin = acme.as_[Role.ADMIN]
    wired.create(admin, BankCreate(name="TEMP", kind=BankKind.WATCH))
    pdq = random_pdq()
    wired.add_entry(admin, "TEMP", EntryCreate(signal=SignalKind.PDQ, value=pdq))
    wired.delete(admin, "TEMP")
    assert matching.match_hashes(admin, [pdq_signal(pdq)]) == [[]]
    assert matching.bank_count() == 0


def test_a_large_import_is_indexed(wired: BankService, matching: MatchService, acme: Side) -> None:
    admin = acme.as_[Role.ADMIN]
    wired.create(admin, BankCreate(name="BULK", kind=BankKind.TAKEDOWN))
    hashes = [random_pdq() for _ in range(3000)]
    report = wired.import_rows(
        admin, "BULK", [{"signal_type": "pdq", "signal_value": h} for h in hashes]
    )
    assert report.added == 3000
    results = matching.match_hashes(admin, [pdq_signal(flip(h, 5)) for h in hashes[::100]])
    assert all(len(r) == 1 and r[0].distance == 5 for r in results)


def test_a_shared_bank_named_like_an_own_bank_keeps_its_kind(
    wired: BankService, matching: MatchService, acme: Side, bravo: Side
) -> None:
    """Names are unique per tenant: a clash across a share must not swap bank kinds."""
    theirs, ours = bravo.as_[Role.ADMIN], acme.as_[Role.ADMIN]
    lent = wired.create(theirs, BankCreate(name="SAME", kind=BankKind.TAKEDOWN))
    wired.share(theirs, "SAME", "acme")
    wired.create(ours, BankCreate(name="SAME", kind=BankKind.SUPPRESSION))
    pdq = random_pdq()
    wired.add_entry(theirs, "SAME", EntryCreate(signal=SignalKind.PDQ, value=pdq))

    snapshot = matching.snapshot_for(ours)
    [match] = snapshot.match([pdq_signal(pdq)], list)
    assert match.bank == lent.id  # the shared one is named by its id
    assert (match.bank_id, match.bank_kind) == (lent.id, BankKind.TAKEDOWN)
    assert {(b.label, b.bank.kind) for b in snapshot.banks} == {
        ("SAME", BankKind.SUPPRESSION),
        (lent.id, BankKind.TAKEDOWN),
    }
    # The owner still sees its own name.
    assert [m.bank for m in matching.match_hashes(theirs, [pdq_signal(pdq)])[0]] == ["SAME"]


def vpdq_text(hashes: list[str]) -> str:
    return "".join(f"{i},100,{h},{float(i):.3f}\n" for i, h in enumerate(hashes))


def test_videos_survive_a_reindex_and_a_restart(
    store: Store, settings: Settings, wired: BankService, matching: MatchService, acme: Side
) -> None:
    admin = acme.as_[Role.ADMIN]
    wired.create(admin, BankCreate(name="CLIPS", kind=BankKind.TAKEDOWN))
    frames = [random_pdq() for _ in range(10)]
    entry = wired.add_entry(
        admin, "CLIPS", EntryCreate(signal=SignalKind.VPDQ, value=vpdq_text(frames))
    )
    clip = Signal(type=SignalKind.VPDQ, value=vpdq_text(frames[:4]))

    def found(service: MatchService) -> list[str]:
        return [m.entry for m in service.match_hashes(admin, [clip])[0]]

    assert found(matching) == [entry.id]
    wired.update(admin, "CLIPS", BankUpdate(pdq_threshold=40))  # re-indexes the bank
    assert found(matching) == [entry.id]
    matching.close()
    again = MatchService(store, settings)
    again.load()
    try:
        assert found(again) == [entry.id]
    finally:
        again.close()


def _answers_while(blocked: threading.Event, lookup: Callable[[], object]) -> bool:
    """Whether ``lookup`` returns (in another thread) while something holds ``blocked``."""
    done = threading.Event()

    def run() -> None:
        lookup()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    answered = done.wait(10)
    blocked.set()
    return answered


@pytest.mark.parametrize("slow_part", ["snapshot", "change log"])
def test_lookups_go_on_while_a_snapshot_is_written_or_the_log_is_read(
    slow_part: str,
    wired: BankService,
    matching: MatchService,
    acme: Side,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only applying a change holds lookups off, not the slow parts around it."""
    admin = acme.as_[Role.ADMIN]
    wired.create(admin, BankCreate(name="BUSY", kind=BankKind.TAKEDOWN))
    pdq = random_pdq()
    wired.add_entry(admin, "BUSY", EntryCreate(signal=SignalKind.PDQ, value=pdq))
    target, name = (BankIndex, "save") if slow_part == "snapshot" else (entry_repo, "changes_since")
    entered, release = threading.Event(), threading.Event()
    slow = getattr(target, name)

    def stalled(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(10)
        return slow(*args, **kwargs)

    monkeypatch.setattr(target, name, stalled)
    writer = threading.Thread(
        target=matching.save if slow_part == "snapshot" else matching.refresh, daemon=True
    )
    writer.start()
    assert entered.wait(10)

    def lookup() -> object:
        found = matching.match_hashes(admin, [pdq_signal(pdq)])
        assert [len(r) for r in found] == [1]
        return found

    assert _answers_while(release, lookup), f"a lookup waited for the {slow_part}"
    writer.join(10)
    assert not writer.is_alive()


def test_the_saved_snapshot_loads_without_a_database(
    settings: Settings, wired: BankService, matching: MatchService, acme: Side, bravo: Side
) -> None:
    """What a worker on another machine does: the snapshot files alone give the same matches."""
    ours, theirs = acme.as_[Role.ADMIN], bravo.as_[Role.ADMIN]
    wired.create(ours, BankCreate(name="OWN", kind=BankKind.TAKEDOWN, dihedral=True))
    lent = wired.create(theirs, BankCreate(name="OWN", kind=BankKind.WATCH))
    wired.share(theirs, "OWN", "acme")
    wired.create(ours, BankCreate(name="GONE", kind=BankKind.WATCH))
    pdq, md5 = random_pdq(), secrets.token_hex(16)
    wired.add_entry(ours, "OWN", EntryCreate(signal=SignalKind.PDQ, value=pdq))
    wired.add_entry(ours, "OWN", EntryCreate(signal=SignalKind.MD5, value=md5))
    wired.add_entry(theirs, "OWN", EntryCreate(signal=SignalKind.PDQ, value=flip(pdq, 3)))
    frames = [random_pdq() for _ in range(4)]
    wired.add_vpdq_entry(ours, "OWN", vpdq_text(frames))
    wired.add_entry(ours, "GONE", EntryCreate(signal=SignalKind.PDQ, value=pdq))
    wired.delete(ours, "GONE")
    matching.save()

    live = matching.snapshot_for(ours)
    loaded = BankSnapshot.load(Path(settings.data_dir) / "index", acme.tenant.id)
    assert [(b.bank, b.label) for b in loaded.banks] == [(b.bank, b.label) for b in live.banks]
    signals = [
        Signal(type=SignalKind.PDQ, value=flip(pdq, 2)),
        Signal(type=SignalKind.MD5, value=md5),
        Signal(type=SignalKind.VPDQ, value=vpdq_text(frames)),
    ]
    expected = live.match_each(signals)
    assert loaded.match_each(signals) == expected
    assert [len(r) for r in expected] == [2, 1, 1]
    assert lent.id in {m.bank_id for m in expected[0]}
    assert loaded.match(signals[:2], list) == live.match(signals[:2], list)


def test_a_catch_up_longer_than_the_snapshot_threshold_snapshots_as_it_goes(
    store: Store, settings: Settings, acme: Side, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import applied in one catch-up (it outpaced the poll loop) is snapshotted
    between pages, so a crash at its end replays a page or so, not all of it."""
    import jikimi.services.matching as matching_module

    monkeypatch.setattr(matching_module, "REPLAY_PAGE", 20)
    tuned = settings.model_copy(update={"match_snapshot_after_changes": 30})
    admin = acme.as_[Role.ADMIN]
    service = MatchService(store, tuned)
    service.load()
    try:
        elsewhere = BankService(store, settings=tuned)  # the CLI: not wired to the service
        bank = elsewhere.create(admin, BankCreate(name="BULK", kind=BankKind.TAKEDOWN))
        service.refresh()
        rows = [{"signal_type": "pdq", "signal_value": random_pdq()} for _ in range(200)]
        assert elsewhere.import_rows(admin, "BULK", rows).added == 200
        with store.session() as s, s.begin():
            last = entry_repo.max_change_id(s)
        snap = Path(tuned.data_dir) / "index" / bank.id / "pdq.snap"
        service.refresh()  # one catch-up of ten pages
        from jikimi.matching.snapshot import read_snapshot

        behind = last - read_snapshot(snap, "pdq").watermark
        assert behind < 30 + 20, f"the snapshot is {behind} changes behind"
    finally:
        service._stop.set()  # no snapshot on close: what a crash leaves
        service.read_only = True
        service.close()


def test_a_restart_replays_into_the_delta_and_folds_once_ready(
    store: Store, settings: Settings, acme: Side, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readiness does not wait for folds: the replay's pages wait in the delta and
    are folded in once, after the service is ready; every entry matches throughout."""
    import jikimi.matching.pdq_index as pdq_module
    import jikimi.services.matching as matching_module
    from jikimi.matching.pdq_index import PdqIndex

    admin = acme.as_[Role.ADMIN]
    hashes = [random_pdq() for _ in range(40)]
    snapshotted_bank(store, settings, acme, "REPLAY", hashes)
    later = [random_pdq() for _ in range(300)]
    rows = [{"signal_type": "pdq", "signal_value": h} for h in later]
    assert BankService(store, settings=settings).import_rows(admin, "REPLAY", rows).added == 300

    monkeypatch.setattr(pdq_module, "_DELTA_CAPACITY", 16)
    monkeypatch.setattr(matching_module, "LOAD_PAGE", 50)  # six pages of replay
    folds: list[bool] = []
    real = PdqIndex._fold
    second = MatchService(store, settings)

    def spy(self: PdqIndex, *args: Any) -> None:
        folds.append(second.wait_ready(0))
        real(self, *args)

    monkeypatch.setattr(PdqIndex, "_fold", spy)
    second.load()
    try:
        assert folds == [True], "one fold, after the service was ready"
        results = second.match_hashes(admin, [pdq_signal(h) for h in hashes + later])
        assert all(len(r) == 1 for r in results)
    finally:
        second.close()

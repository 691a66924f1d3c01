"""Stored scans, their hashes for retroactive matching, and matches found later."""

from __future__ import annotations

from datetime import timedelta

from store_helpers import at, tenant_and_bank

from jikimi.domain import EntryMeta, EntryStatus, Match, ScanMatch, Signal, SignalKind, Verdict
from jikimi.ids import new_id
from jikimi.store import Store
from jikimi.store import entries as entry_repo
from jikimi.store import scans as repo
from jikimi.store import tenants as tenant_repo

PDQ = "f" * 64
MD5 = "1" * 32
SHA = "2" * 64


def _verdict(pdq: str = PDQ, matches: tuple[Match, ...] = ()) -> Verdict:
    return Verdict(
        id=new_id("scn"),
        source={"name": "upload.jpg"},
        signals=(
            Signal(type=SignalKind.PDQ, value=pdq, quality=100),
            Signal(type=SignalKind.MD5, value=MD5),
            Signal(type=SignalKind.SHA256, value=SHA),
        ),
        matches=matches,
    )


def test_save_and_get_are_per_tenant(store: Store) -> None:
    tenant, _ = tenant_and_bank(store)
    verdict = _verdict()
    with store.session(write=True) as s, s.begin():
        other = tenant_repo.create_tenant(s, "other", at())
        saved = repo.save_scan(s, tenant.id, verdict, at())
    with store.session() as s, s.begin():
        mine = repo.get_scan(s, tenant.id, verdict.id)
        theirs = repo.get_scan(s, other.id, verdict.id)
        missing = repo.get_scan(s, tenant.id, "scn_nope")
    assert mine is not None and mine.verdict == verdict and mine.created_at == saved.created_at
    assert theirs is None and missing is None


def test_later_matches_are_appended_once_and_withdrawn_ones_hidden(store: Store) -> None:
    tenant, bank = tenant_and_bank(store)
    earlier = Match(bank="TAKEDOWNS", signal=SignalKind.PDQ, distance=0, entry="ent_earlier")
    verdict = _verdict(matches=(earlier,))
    with store.session(write=True) as s, s.begin():
        repo.save_scan(s, tenant.id, verdict, at())
        e1, c1 = entry_repo.add_entry(
            s,
            bank_id=bank.id,
            bank_name=bank.name,
            signal=SignalKind.PDQ,
            value="e" * 64,
            meta=EntryMeta(),
            media_sha256=None,
            at=at(),
        )
        e2, c2 = entry_repo.add_entry(
            s,
            bank_id=bank.id,
            bank_name=bank.name,
            signal=SignalKind.MD5,
            value=MD5,
            meta=EntryMeta(),
            media_sha256=None,
            at=at(),
        )
        found = [
            ScanMatch(scan_id=verdict.id, entry_seq=c1.seq, distance=4),
            ScanMatch(scan_id=verdict.id, entry_seq=c2.seq, distance=0),
        ]
        assert repo.add_scan_matches(s, found, at()) == 2
        assert repo.add_scan_matches(s, found, at()) == 0  # repeats are skipped
    with store.session() as s, s.begin():
        record = repo.get_scan(s, tenant.id, verdict.id)
    assert record is not None and record.verdict.matches is not None
    assert [m.entry for m in record.verdict.matches] == ["ent_earlier", e1.id, e2.id]
    assert record.verdict.matches[1] == Match(
        bank="TAKEDOWNS",
        bank_id=bank.id,
        bank_kind=bank.kind,
        signal=SignalKind.PDQ,
        distance=4,
        entry=e1.id,
    )

    with store.session(write=True) as s, s.begin():
        entry_repo.set_entry_status(s, bank.id, bank.name, e1.id, EntryStatus.WITHDRAWN, at())
    with store.session() as s, s.begin():
        record = repo.get_scan(s, tenant.id, verdict.id)
    assert record is not None and record.verdict.matches is not None
    assert [m.entry for m in record.verdict.matches] == ["ent_earlier", e2.id]


def _keys(verdict: Verdict) -> list[tuple[SignalKind, str]]:
    return [(signal.type, signal.value) for signal in verdict.signals or ()]


def test_scan_signals_for_retroactive_matching(store: Store) -> None:
    tenant, _ = tenant_and_bank(store)
    start = at()
    old, new = _verdict(pdq="0" * 64), _verdict(pdq="a" * 64)
    unkeyed = _verdict()
    with store.session(write=True) as s, s.begin():
        other = tenant_repo.create_tenant(s, "other", at())
        repo.save_scan(s, tenant.id, old, start - timedelta(days=2), _keys(old))
        repo.save_scan(s, tenant.id, new, start, _keys(new))
        theirs = _verdict()
        repo.save_scan(s, other.id, theirs, start, _keys(theirs))
        repo.save_scan(s, tenant.id, unkeyed, start)  # no rows: never re-checked
    pdq = SignalKind.PDQ
    with store.session() as s, s.begin():
        every = list(repo.iter_scan_signals(s, [tenant.id], pdq, batch_size=1))
        before = list(repo.iter_scan_signals(s, [tenant.id], pdq, before=start))
        both = list(repo.iter_scan_signals(s, [tenant.id, other.id], pdq))
        full = list(repo.iter_scan_signals(s, [tenant.id], SignalKind.MD5, full=True))
        none = list(repo.iter_scan_signals(s, [], pdq))
        by_md5 = repo.find_scans_by_key(s, [tenant.id], SignalKind.MD5, [MD5, "3" * 32])
        by_pdq = repo.find_scans_by_key(s, [other.id], pdq, ["a" * 64])
    assert [h.scan_id for h in every] == [old.id, new.id]
    assert every[0].value == "0" * 64 and every[0].tenant_id == tenant.id
    assert every[0].created_at == start - timedelta(days=2)
    assert [h.scan_id for h in before] == [old.id]
    assert [h.value for h in full] == [MD5, MD5]
    assert len(both) == 3 and none == []
    assert sorted(h.scan_id for h in by_md5) == sorted([old.id, new.id])
    assert by_pdq == []  # the other tenant's scan has a different PDQ

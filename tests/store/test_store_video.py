"""Frame hashes of banked videos (``video_frames``), on both databases."""

from __future__ import annotations

import hashlib
import random

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from store_helpers import at, random_hex, tenant_and_bank

from jikimi.domain import BankCreate, BankKind, EntryMeta, EntryStatus, SignalKind
from jikimi.signals.vpdq import FrameHash
from jikimi.store import Store
from jikimi.store import banks as bank_repo
from jikimi.store import entries as entry_repo
from jikimi.store import video as repo
from jikimi.store.entries import NewEntry
from jikimi.store.models import VideoFrameRow


def _frames(rng: random.Random, n: int, *, start: int = 0) -> list[FrameHash]:
    return [
        FrameHash(
            frame=start + 30 * i, t_s=i + 0.033, quality=rng.randint(0, 100), pdq=random_hex(rng)
        )
        for i in range(n)
    ]


def _add_video(
    store: Store, bank_id: str, bank_name: str, frames: list[FrameHash], tag: str
) -> int:
    """A vPDQ entry and its frames, in one transaction; returns its seq."""
    with store.session(write=True) as s, s.begin():
        _, change = entry_repo.add_entry(
            s,
            bank_id=bank_id,
            bank_name=bank_name,
            signal=SignalKind.VPDQ,
            value=hashlib.sha256(tag.encode()).hexdigest(),
            meta=EntryMeta(),
            media_sha256=None,
            at=at(),
        )
        repo.add_frames(s, change.seq, frames)
    return change.seq


def test_frames_read_back_by_seq_in_frame_order(store: Store) -> None:
    rng = random.Random(1)
    _, bank = tenant_and_bank(store)
    first = _frames(rng, 5)
    second = _frames(rng, 3, start=7)
    # Written out of order: read back by frame number.
    a = _add_video(store, bank.id, bank.name, [first[3], first[0], *first[4:], *first[1:3]], "a")
    b = _add_video(store, bank.id, bank.name, second, "b")
    c = _add_video(store, bank.id, bank.name, [], "c")  # no frames: absent from the answer
    with store.session() as s, s.begin():
        got = repo.frames_of(s, [b, a, c, 10_000, a])
        assert repo.frames_of(s, []) == {}
    assert got == {a: first, b: second}
    # Quality, hash and the float timestamp come back exactly.
    assert got[a][1] == first[1] and isinstance(got[a][1].t_s, float)


def test_frames_of_many_seqs_is_chunked(store: Store) -> None:
    """More seqs than one IN list holds (500)."""
    rng = random.Random(2)
    _, bank = tenant_and_bank(store)
    rows = [NewEntry(SignalKind.VPDQ, random_hex(rng), {}) for _ in range(1_201)]
    with store.session(write=True) as s, s.begin():
        added, changes = entry_repo.insert_entries(s, bank.id, rows, source=None, at=at())
        assert added == len(rows)
        expected = {c.seq: _frames(rng, 1 + c.seq % 3) for c in changes}
        for seq, frames in expected.items():
            repo.add_frames(s, seq, frames)
    with store.session() as s, s.begin():
        assert repo.frames_of(s, list(expected)) == expected


def test_iter_video_frames_streams_active_videos_in_seq_order(store: Store) -> None:
    rng = random.Random(3)
    tenant, bank = tenant_and_bank(store)
    with store.session(write=True) as s, s.begin():
        other = bank_repo.create_bank(
            s, tenant.id, BankCreate(name="OTHER", kind=BankKind.WATCH), at()
        )
    videos = {}
    for i in range(6):
        target = other if i == 4 else bank
        frames = _frames(rng, 1 + i)
        videos[_add_video(store, target.id, target.name, frames, f"v{i}")] = frames
    seqs = list(videos)
    with store.session(write=True) as s, s.begin():
        # An image entry's seq in between, a disabled and a withdrawn video.
        entry_repo.insert_entries(
            s, bank.id, [NewEntry(SignalKind.PDQ, random_hex(rng), {})], source=None, at=at()
        )
        listed = {
            seq: e.id
            for seq, e in entry_repo.list_entries(s, bank.id, bank.name, after_seq=0, limit=50)
        }
        for seq, status in ((seqs[1], EntryStatus.DISABLED), (seqs[2], EntryStatus.WITHDRAWN)):
            entry_repo.set_entry_status(s, bank.id, bank.name, listed[seq], status, at())
    active = [seq for seq in seqs if seq not in (seqs[1], seqs[2])]
    with store.session() as s, s.begin():
        # A batch smaller than one video's frames: groups span fetches.
        streamed = list(repo.iter_video_frames(s, batch_size=2))
        mine = list(repo.iter_video_frames(s, [bank.id]))
        assert list(repo.iter_video_frames(s, [])) == []
    assert streamed == [(seq, videos[seq]) for seq in active]
    assert [seq for seq, _ in mine] == [seq for seq in active if seq != seqs[4]]


def test_frames_go_with_their_bank_and_repeat_frame_numbers_are_refused(store: Store) -> None:
    rng = random.Random(4)
    _, bank = tenant_and_bank(store)
    frames = _frames(rng, 4)
    seq = _add_video(store, bank.id, bank.name, frames, "x")
    with pytest.raises(IntegrityError), store.session(write=True) as s, s.begin():
        repo.add_frames(s, seq, [frames[0]])  # (seq, frame) is the key
    with store.session(write=True) as s, s.begin():
        bank_repo.delete_bank(s, bank.id)
    with store.session() as s, s.begin():
        assert s.scalar(sa.select(sa.func.count()).select_from(VideoFrameRow)) == 0
        assert repo.frames_of(s, [seq]) == {}

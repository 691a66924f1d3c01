"""Repository of banked videos' frame hashes: one ``video_frames`` row per hashed frame.

A vPDQ entry's ``value`` is its identity (``signals.vpdq.video_identity``, the
SHA-256 of its frames without their numbers: the same in the bank and in the change
log); its frames live here, written in the same
transaction as the entry, so an ``add`` change of a vPDQ entry always has its frames
by the time it is visible. The matching service reads them by ``seq``
(:func:`frames_of`) when it replays such a change, and streams all of them
(:func:`iter_video_frames`) when it builds its video indexes.

Frames are deleted with their entry (``ON DELETE CASCADE``, i.e. with their bank);
a withdrawn or disabled entry keeps them (it is never read back while not active).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jikimi.domain import EntryStatus, FrameHash, SignalKind
from jikimi.store.models import EntryRow, VideoFrameRow

_IN_CHUNK = 500  # seqs per IN (...) list: well under every driver's parameter limit

FRAMES = cast(sa.Table, VideoFrameRow.__table__)
_COLUMNS = (
    FRAMES.c.entry_seq,
    FRAMES.c.frame,
    FRAMES.c.quality,
    FRAMES.c.pdq,
    FRAMES.c.timestamp_s,
)


def add_frames(s: Session, seq: int, frames: Sequence[FrameHash]) -> None:
    """Store the frame hashes of entry ``seq`` (one multi-row insert).

    Frame numbers must be distinct (they are the key with ``seq``); the caller
    checks, since a duplicate here is an ``IntegrityError`` that aborts the transaction.
    """
    if not frames:
        return
    s.execute(
        sa.insert(FRAMES),
        [
            {
                "entry_seq": seq,
                "frame": f.frame,
                "quality": f.quality,
                "pdq": f.pdq,
                "timestamp_s": f.t_s,
            }
            for f in frames
        ],
    )


def frames_of(s: Session, seqs: Collection[int]) -> dict[int, list[FrameHash]]:
    """The frames of each entry ``seq``, by frame number; seqs without frames are absent.

    Whatever the entries' status: the caller asks for entries it knows are active
    (an ``add`` change), and a later ``remove`` change follows if they no longer are.
    """
    out: dict[int, list[FrameHash]] = {}
    wanted = sorted(set(seqs))
    for i in range(0, len(wanted), _IN_CHUNK):
        stmt = (
            sa.select(*_COLUMNS)
            .where(FRAMES.c.entry_seq.in_(wanted[i : i + _IN_CHUNK]))
            .order_by(FRAMES.c.entry_seq, FRAMES.c.frame)
        )
        for seq, group in _grouped(s.execute(stmt)):
            out[seq] = group
    return out


def iter_video_frames(
    s: Session, bank_ids: Collection[str] | None = None, *, batch_size: int = 10_000
) -> Iterator[tuple[int, list[FrameHash]]]:
    """``(seq, frames)`` of every active vPDQ entry (of ``bank_ids``, or of all banks),
    streamed in ``seq`` order, ``batch_size`` frame rows per fetch.

    For building the video index; as with
    :func:`~jikimi.store.entries.iter_active_entries`, read the watermark
    (:func:`~jikimi.store.entries.max_change_id`) first.
    """
    # Two steps, so that the partial index on vPDQ entries answers the first one
    # (the literal 'vpdq' lets SQLite see that it may use it): a join let SQLite
    # walk every entry of the bank, 2 s per 100 k image hashes on an empty table.
    seqs = sa.select(EntryRow.seq).where(
        EntryRow.signal == sa.literal_column(f"'{SignalKind.VPDQ.value}'"),
        EntryRow.status == EntryStatus.ACTIVE.value,
    )
    if bank_ids is not None:
        seqs = seqs.where(EntryRow.bank_id.in_(list(bank_ids)))
    wanted = list(s.scalars(seqs.order_by(EntryRow.seq)))
    step = max(_IN_CHUNK, batch_size // 64)
    for i in range(0, len(wanted), step):
        found = frames_of(s, wanted[i : i + step])
        for seq in wanted[i : i + step]:
            if seq in found:
                yield seq, found[seq]


def _grouped(
    rows: Iterable[sa.Row[int, int, int, str, float]],
) -> Iterator[tuple[int, list[FrameHash]]]:
    """Rows ordered by seq as ``(seq, frames)``, one entry at a time."""
    for seq, group in itertools.groupby(rows, key=operator.itemgetter(0)):
        frames = [FrameHash(frame=r[1], t_s=r[4], quality=r[2], pdq=r[3]) for r in group]
        yield int(seq), frames

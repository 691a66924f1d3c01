"""One bank's in-memory indexes: PDQ (exact to threshold), MD5, SHA-256, vPDQ.

The matching service keeps one :class:`BankIndex` per bank rather than one
index for everything: each bank has its own threshold, dihedral switch and
video shares, visibility is then a choice of indexes rather than a filter over
hits, and deleting a bank drops its index whole. A tenant typically sees a few
banks, so a lookup queries a few indexes.

Persistence: :meth:`save` writes the three hash indexes beside each other with
one watermark (the last change applied); :meth:`load` accepts them only if all
three are readable and agree. The video index is rebuilt from the database at
start-up (frames live in ``video_frames``; video banks are small next to image
banks).

Not thread-safe: the matching service holds its lock around every call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from jikimi.domain import DEFAULT_PDQ_THRESHOLD, Bank, Change, ChangeOp
from jikimi.matching import (
    DigestIndex,
    DigestKind,
    PdqIndex,
    SnapshotError,
    SnapshotProblem,
    parse_pdq_hex,
)
from jikimi.matching.vpdq_index import VideoHit, VpdqIndex
from jikimi.model import SignalKind
from jikimi.signals.vpdq import FrameHash

_FILES = {"pdq": "pdq.snap", "md5": "md5.snap", "sha256": "sha256.snap"}


def index_ceiling(threshold: int) -> int:
    """The index's ``max_threshold`` for a bank threshold: never below PDQ's 31."""
    return max(DEFAULT_PDQ_THRESHOLD, threshold)


class BankIndex:
    """The entries of one bank that are active, by signal (ids are entry seqs)."""

    def __init__(self, bank: Bank, pdq: PdqIndex | None = None) -> None:
        self.bank = bank
        self.pdq = pdq if pdq is not None else PdqIndex(index_ceiling(bank.pdq_threshold))
        self.md5 = DigestIndex(DigestKind.MD5)
        self.sha256 = DigestIndex(DigestKind.SHA256)
        self.video: VpdqIndex | None = None
        """Made on the first video: most banks hold only image hashes."""
        self.dirty = False
        """Changed since the last :meth:`save`."""

    def __len__(self) -> int:
        videos = len(self.video) if self.video is not None else 0
        return len(self.pdq) + len(self.md5) + len(self.sha256) + videos

    def fits(self, bank: Bank) -> bool:
        """Whether this index can serve ``bank``'s (possibly raised) threshold."""
        return bank.pdq_threshold <= self.pdq.max_threshold

    # --- changes -------------------------------------------------------------

    def add_hashes(self, signal: SignalKind, seqs: Sequence[int], values: Sequence[str]) -> None:
        """Index hashes of one signal (not vPDQ: see :meth:`add_videos`)."""
        if not seqs:
            return
        if signal is SignalKind.PDQ:
            self.pdq.add_many(np.asarray(seqs, dtype=np.int64), parse_pdq_hex(list(values)))
        elif signal is SignalKind.MD5:
            self.md5.add_many(seqs, values)
        elif signal is SignalKind.SHA256:
            self.sha256.add_many(seqs, values)
        self.dirty = True

    def add_videos(
        self, videos: Iterable[tuple[int, Sequence[FrameHash]]], *, only_if_any: bool = False
    ) -> None:
        """Index banked videos' frames; ``only_if_any``: make no video index for none."""
        if only_if_any:
            videos = list(videos)
            if not videos:
                return
        if self.video is None:
            self.video = VpdqIndex(max_threshold=self.pdq.max_threshold)
        self.video.add_many(videos)
        self.dirty = True

    def remove(self, changes: Iterable[Change]) -> None:
        """Forget the entries of REMOVE changes, whatever their signal."""
        by_signal: dict[SignalKind, list[int]] = {}
        for change in changes:
            by_signal.setdefault(change.signal, []).append(change.seq)
        for signal, seqs in by_signal.items():
            if signal is SignalKind.PDQ:
                self.pdq.remove_many(np.asarray(seqs, dtype=np.int64))
            elif signal is SignalKind.MD5:
                self.md5.remove_many(seqs)
            elif signal is SignalKind.SHA256:
                self.sha256.remove_many(seqs)
            elif self.video is not None:
                for seq in seqs:
                    self.video.remove(seq)
        self.dirty = True

    # --- lookups -------------------------------------------------------------

    def query_pdq(self, hashes: NDArray[np.uint8]) -> dict[int, int]:
        """Entry seq → smallest distance over all parsed ``hashes`` (e.g. the 8 flips)."""
        best: dict[int, int] = {}
        for hits in self.query_pdq_each(hashes):
            for seq, distance in hits:
                if distance < best.get(seq, 257):
                    best[seq] = distance
        return best

    def query_pdq_each(self, hashes: NDArray[np.uint8]) -> list[list[tuple[int, int]]]:
        """``(entry seq, distance)`` within the bank's threshold, for each parsed hash."""
        if not len(self.pdq):
            return [[] for _ in range(len(hashes))]
        return [
            [(hit.entry_id, hit.distance) for hit in hits]
            for hits in self.pdq.query_many(hashes, self.bank.pdq_threshold)
        ]

    def query_digest(self, signal: SignalKind, value: str) -> list[int]:
        index = self.md5 if signal is SignalKind.MD5 else self.sha256
        return index.query(value) if len(index) else []

    def query_video(self, frames: Sequence[FrameHash]) -> list[VideoHit]:
        """Banked videos matching ``frames`` under the bank's vPDQ shares (percent)."""
        if self.video is None or not len(self.video):
            return []
        query_min = self.bank.vpdq_query_pct / 100
        index_min = self.bank.vpdq_index_pct / 100
        return [
            hit
            for hit in self.video.query(frames, self.bank.pdq_threshold)
            if hit.query_share >= query_min and hit.index_share >= index_min
        ]

    # --- snapshots -----------------------------------------------------------

    def save(self, directory: Path, watermark: int) -> None:
        """Write the hash indexes with ``watermark`` (each file atomically)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.pdq.save(directory / _FILES["pdq"], watermark)
        self.md5.save(directory / _FILES["md5"], watermark)
        self.sha256.save(directory / _FILES["sha256"], watermark)
        self.dirty = False

    @classmethod
    def load(cls, bank: Bank, directory: Path) -> tuple[BankIndex, int]:
        """The saved indexes of ``bank`` and their watermark.

        :class:`SnapshotError` (or a missing file) means: rebuild from the database.
        Files with different watermarks (a crash between two saves) are refused too.
        """
        pdq, mark = PdqIndex.load(directory / _FILES["pdq"])
        md5, md5_mark = DigestIndex.load(directory / _FILES["md5"], DigestKind.MD5)
        sha256, sha_mark = DigestIndex.load(directory / _FILES["sha256"], DigestKind.SHA256)
        if not mark == md5_mark == sha_mark:
            raise SnapshotError(
                directory,
                SnapshotProblem.MALFORMED,
                f"watermarks differ (pdq {mark}, md5 {md5_mark}, sha256 {sha_mark})",
            )
        index = cls(bank, pdq)
        index.md5, index.sha256 = md5, sha256
        return index, mark


def apply_adds(index: BankIndex, changes: Sequence[Change]) -> list[int]:
    """Index the hash ADD changes; returns the seqs of vPDQ adds (frames come from the DB)."""
    grouped: dict[SignalKind, tuple[list[int], list[str]]] = {}
    videos: list[int] = []
    for change in changes:
        if change.op is not ChangeOp.ADD:
            continue
        if change.signal is SignalKind.VPDQ:
            videos.append(change.seq)
            continue
        seqs, values = grouped.setdefault(change.signal, ([], []))
        seqs.append(change.seq)
        values.append(change.value)
    for signal, (seqs, values) in grouped.items():
        index.add_hashes(signal, seqs, values)
    return videos

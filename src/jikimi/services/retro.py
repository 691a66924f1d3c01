"""Retroactive matching: new bank entries are checked against scans stored earlier.

A hash added to a bank today should find the upload that was scanned last
week, when nobody knew it yet. This runs in the background of the API process::

    changes log (ADD, id > retro watermark) ─► every retro_batch_s, or when woken:
        per bank: the tenants that see it (owner + shares)
          MD5 / SHA-256 ─► indexed lookup of their stored scans
          PDQ           ─► a small PdqIndex of the new hashes; their stored scans'
                           PDQ hashes streamed through it (bank threshold)
          vPDQ          ─► a small video index of the new videos' frames; their
                           stored video scans' vPDQ streamed through it (bank
                           threshold and shares, as when scanning)
        ─► scan_matches rows (repeats ignored) ─► watermark saved to disk

Only scans started before the entry was added are checked (later ones were
matched when they were scanned). A change is handled once it is
``retro_settle_s`` old, so that the scans running when it arrived have been
stored by then; a scan job running longer than that may miss an entry added
during it. The watermark lives in
``<data_dir>/index/retro.watermark``: after a crash the last batch is simply
done again (recording a match twice is a no-op). When several worker processes
share a data directory, one of them (the holder of ``retro.lock``) does the
work. Not covered: dihedral variants of stored scans (only the upload's own
PDQ is stored).

A video matches later exactly as it would have when scanned
(:meth:`~jikimi.services.bank_index.BankIndex.query_video`: the bank's
``pdq_threshold``, ``vpdq_query_pct`` and ``vpdq_index_pct`` as they are when the
check runs), reading the frames the stored Verdict's ``vpdq`` signal holds. Its
late match records the closest frame distance only: ``scan_matches`` has no
columns for the two shares, so such a match shows ``query_share`` and
``index_share`` as null in ``GET /v1/scans/{id}``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy.orm import Session

from jikimi.config import Settings
from jikimi.domain import Bank, Change, ChangeOp, ScanHashes, ScanMatch
from jikimi.errors import InvalidInput
from jikimi.matching import PdqIndex
from jikimi.model import SignalKind
from jikimi.services._common import now
from jikimi.services.bank_index import BankIndex, index_ceiling
from jikimi.signals.vpdq import parse_vpdq
from jikimi.store import Store
from jikimi.store import banks as bank_repo
from jikimi.store import entries as entry_repo
from jikimi.store import scans as scan_repo
from jikimi.store import video as video_repo

log = logging.getLogger(__name__)

PAGE = 20_000
"""Changes handled per pass (one import batch)."""
SCAN_CHUNK = 5_000
"""Stored scan hashes queried against the new entries at once."""
VIDEO_CHUNK = 200
"""Stored video scans fetched at once (a vPDQ text is ~80 bytes per hashed frame)."""
VIDEOS_PER_PASS = 100
"""New videos matched against the stored video scans in one pass (bounds memory)."""


class RetroMatcher:
    """Background re-checking of stored scans (see the module docstring)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        directory = Path(settings.data_dir) / "index"
        self._mark_path = directory / "retro.watermark"
        self._lock_path = directory / "retro.lock"
        self._lock_file: IO[str] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.recorded = 0
        """Matches recorded by this process (for tests and metrics)."""

    def start(self) -> None:
        """Run in a background thread if no other process on this data directory does."""
        if self._thread is not None or not self._take_lock():
            return
        self._thread = threading.Thread(target=self._run, name="jikimi-retro", daemon=True)
        self._thread.start()

    def notify(self, changes: Sequence[Change] = ()) -> None:
        """New changes were applied: look at them now rather than at the next tick."""
        if any(c.op is ChangeOp.ADD for c in changes) or not changes:
            self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _take_lock(self) -> bool:
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._lock_path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.run_once() and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("retroactive matching failed; retrying")
            self._wake.wait(self.settings.retro_batch_s)
            self._wake.clear()

    # --- one pass ------------------------------------------------------------

    def watermark(self) -> int:
        """The last change already checked (starts at the log's end: history is not redone)."""
        try:
            return int(self._mark_path.read_text().strip())
        except (OSError, ValueError):
            with self.store.session() as s, s.begin():
                mark = entry_repo.max_change_id(s)
            self._save_mark(mark)
            return mark

    def run_once(self) -> bool:
        """Check the next page of new entries; False when there was nothing to do."""
        mark = self.watermark()
        with self.store.session() as s, s.begin():
            changes = entry_repo.changes_since(s, mark, PAGE)
        if not changes:
            return False
        # Wait until scans that were running when these entries arrived are stored.
        settled = now() - timedelta(seconds=self.settings.retro_settle_s)
        changes = [c for c in changes if c.at <= settled]
        if not changes:
            return False
        adds = [c for c in changes if c.op is ChangeOp.ADD]
        by_bank: dict[str, list[Change]] = {}
        for change in adds:
            by_bank.setdefault(change.bank_id, []).append(change)
        for bank_id, group in by_bank.items():
            self._check_bank(bank_id, group)
        self._save_mark(changes[-1].id)
        return True

    def _check_bank(self, bank_id: str, adds: Sequence[Change]) -> None:
        with self.store.session() as s, s.begin():
            bank = bank_repo.get_bank(s, bank_id)
        if bank is None or not bank.enabled:
            return
        tenants = [bank.tenant_id, *bank.shared_with]
        added_at = {c.seq: c.at for c in adds}
        found: list[ScanMatch] = []
        with self.store.session() as s, s.begin():
            for signal in (SignalKind.MD5, SignalKind.SHA256):
                seqs_of: dict[str, list[int]] = {}
                for change in adds:
                    if change.signal is signal:
                        seqs_of.setdefault(change.value.lower(), []).append(change.seq)
                if not seqs_of:
                    continue
                for scan in scan_repo.find_scans_by_hash(s, tenants, signal, list(seqs_of)):
                    value = scan.md5 if signal is SignalKind.MD5 else scan.sha256
                    for seq in seqs_of.get((value or "").lower(), []):
                        if scan.created_at < added_at[seq]:
                            found.append(ScanMatch(scan_id=scan.scan_id, entry_seq=seq, distance=0))
            pdq = [c for c in adds if c.signal is SignalKind.PDQ]
            if pdq:
                index = PdqIndex.build(
                    [c.seq for c in pdq], [c.value for c in pdq], index_ceiling(bank.pdq_threshold)
                )
                scans = scan_repo.iter_scan_hashes(s, tenants, batch_size=SCAN_CHUNK)
                chunk: list[ScanHashes] = []
                for scan in scans:
                    if scan.pdq is not None:
                        chunk.append(scan)
                    if len(chunk) >= SCAN_CHUNK:
                        found += _pdq_hits(index, chunk, bank.pdq_threshold, added_at)
                        chunk = []
                found += _pdq_hits(index, chunk, bank.pdq_threshold, added_at)
            videos = [c for c in adds if c.signal is SignalKind.VPDQ]
            if videos:
                found += _video_hits(s, bank, tenants, videos)
        if found:
            with self.store.session(write=True) as s, s.begin():
                new = scan_repo.add_scan_matches(s, found, now())
            self.recorded += new
            log.info("retroactive matching: %d new matches in bank %s", new, bank.name)

    def _save_mark(self, mark: int) -> None:
        self._mark_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._mark_path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(f"{mark}\n")
        tmp.replace(self._mark_path)


def _pdq_hits(
    index: PdqIndex,
    scans: Sequence[ScanHashes],
    threshold: int,
    added_at: dict[int, datetime],
) -> list[ScanMatch]:
    if not scans:
        return []
    out: list[ScanMatch] = []
    results = index.query_many([scan.pdq or "" for scan in scans], threshold)
    for scan, hits in zip(scans, results, strict=True):
        for hit in hits:
            if scan.created_at < added_at[hit.entry_id]:
                out.append(
                    ScanMatch(scan_id=scan.scan_id, entry_seq=hit.entry_id, distance=hit.distance)
                )
    return out


def _video_hits(
    s: Session, bank: Bank, tenants: Sequence[str], adds: Sequence[Change]
) -> list[ScanMatch]:
    """Late matches of the tenants' stored video scans with the newly banked videos,
    :data:`VIDEOS_PER_PASS` new videos at a time (their frames are held in memory:
    an hour of video at one hash a second is 3,600 frames)."""
    out: list[ScanMatch] = []
    for start in range(0, len(adds), VIDEOS_PER_PASS):
        out += _video_pass(s, bank, tenants, adds[start : start + VIDEOS_PER_PASS])
    return out


def _video_pass(
    s: Session, bank: Bank, tenants: Sequence[str], adds: Sequence[Change]
) -> list[ScanMatch]:
    """Late matches of the tenants' stored video scans with some newly banked videos.

    The new videos go into a :class:`BankIndex` of their own, so that the threshold
    and the shares are applied by the same code as when a video is scanned. A new
    entry whose frames are gone (deleted since) is left out.
    """
    added_at = {c.seq: c.at for c in adds}
    frames = video_repo.frames_of(s, added_at)
    if not frames:
        return []
    index = BankIndex(bank)
    index.add_videos(frames.items())
    out: list[ScanMatch] = []
    before = max(added_at.values())
    for scan in scan_repo.iter_video_scans(s, tenants, before, batch_size=VIDEO_CHUNK):
        try:
            query = parse_vpdq(scan.vpdq)
        except InvalidInput as exc:  # skipped: raising would retry this batch forever
            log.warning(
                "retroactive matching: scan %s has a bad vpdq signal: %s", scan.scan_id, exc
            )
            continue
        for hit in index.query_video(query):
            if scan.created_at < added_at[hit.entry_id]:
                out.append(
                    ScanMatch(scan_id=scan.scan_id, entry_seq=hit.entry_id, distance=hit.distance)
                )
    return out

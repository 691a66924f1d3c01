"""The matching service: bank indexes kept in step with the database, and snapshots of them.

::

    start() ─► background thread:
                 banks ─► per bank: snapshot (data_dir/index/<bank id>/) if readable,
                          else build from the database (watermark read first)
                       ─► replay the change log past each bank's watermark ─► ready
                 then every poll_s: refresh banks, replay new changes
                 (imports by the CLI, other worker processes), snapshot a bank
                 once match_snapshot_after_changes changes reached it (checked
                 after every page caught up), every snapshot_every_s, and on close()
    BankService ─► entries_changed / banks_changed ─► catch up now, synchronously:
                 a withdrawn hash stops matching before the API call returns
    snapshot_for(principal) ─► BankSnapshot: the caller's visible, enabled banks,
                 which the pipeline queries with no I/O (``jikimi.matching.bank_snapshot``)
    match_hashes(principal, signals) ─► the same snapshot's ``match_each``

This is the half that does I/O; the lookups themselves are the snapshot's.
The database is the source of truth and the change log (``changes``, ids in
commit order) the only way changes reach an index, whichever process made
them: replaying is idempotent, so a snapshot that is older than the database
(a crash after the database commit, before the next snapshot) only costs a
longer replay, which ``match_snapshot_after_changes`` bounds.

The snapshot files also hold each bank's settings and its entries' public ids,
so a process with no database can load the same banks
(:meth:`~jikimi.matching.BankSnapshot.load`); the directory of a deleted bank
is removed.

Locking: a readers-writer lock guards the indexes. Lookups share it (their
NumPy gathers release the GIL, so one process answers several at once); a
change takes it alone only while it is applied, not while the change log is
read, so a large import delays lookups page by page rather than throughout.
A second, plain lock lets one thread at a time load, catch up or snapshot:
with it held nothing else writes, so a snapshot (written under the shared
lock, lookups going on) is of one state. The start-up load keeps the indexes
to itself throughout (lookups wait for ``ready`` anyway; API writes meanwhile
do not wait for it).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from jikimi.config import Settings
from jikimi.domain import Bank, Change, ChangeOp, Match, Permission, Principal, Signal, SignalKind
from jikimi.errors import IndexNotReady
from jikimi.matching import SnapshotError
from jikimi.matching.bank_index import BankIndex, group_adds
from jikimi.matching.bank_snapshot import BankSnapshot, Variants
from jikimi.matching.kinds import Payload, kind_spec
from jikimi.services._common import require
from jikimi.services._rwlock import ReadWriteLock
from jikimi.signals.vpdq import FrameHash, format_vpdq
from jikimi.store import Store
from jikimi.store import banks as bank_repo
from jikimi.store import entries as entry_repo
from jikimi.store import video as video_repo

log = logging.getLogger(__name__)

REPLAY_PAGE = 50_000
"""Changes read per query while catching up (bounds memory during a big import)."""
LOAD_PAGE = 250_000
"""Changes read per query while replaying at start-up. Each applied page folds the
new rows into the PDQ index in one pass over all of it (about 0.7 s at 2 M rows),
so a restart replays the (at most about ``match_snapshot_after_changes``) changes
since the last snapshot in one or two pages rather than one pass per 50,000."""
DEFERRED_ROWS = 262_144
"""Rows a restart's replay may leave in the indexes' scanned deltas until the service
is ready (then it folds them in, once): readiness does not wait for a fold."""
BUILD_CHUNK = 200_000
"""Entries parsed per step while building an index from the database."""

ChangeHook = Callable[[Sequence[Change]], None]
"""Told about changes once they are applied (retroactive matching listens)."""

_Pending = dict[tuple[str, SignalKind], tuple[list[int], list[str], list[str], list[str]]]
"""(bank, kind) → seqs, values, public ids and variant texts of entries to index."""


class MatchService:
    """Keeps the bank indexes in step with the database (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        on_applied: ChangeHook | None = None,
        read_only: bool = False,
    ) -> None:
        self.store = store
        self.read_only = read_only
        """Never write to the index directory (``jikimi scan`` reads the server's)."""
        self.settings = settings
        self.directory = Path(settings.data_dir) / "index"
        self._on_applied = on_applied
        self._lock = ReadWriteLock()  # the indexes: lookups read, changes write
        self._sync = threading.RLock()  # one load / catch-up / snapshot at a time
        self._banks: dict[str, Bank] = {}
        self._indexes: dict[str, BankIndex] = {}
        self._watermark = 0
        self._ready = threading.Event()
        self._loaded = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_at = time.monotonic()
        self.load_error: str | None = None

    # --- life cycle ----------------------------------------------------------

    @property
    def ready(self) -> bool:
        """The indexes are loaded and caught up (``/readyz``)."""
        return self._ready.is_set()

    @property
    def watermark(self) -> int:
        """The last change applied to every index."""
        return self._watermark

    def start(self) -> None:
        """Load the indexes in a background thread, then keep them in step."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="jikimi-matching", daemon=True)
        self._thread.start()

    def load(self) -> None:
        """Load (snapshots, else the database) and catch up, in the calling thread."""
        with self._sync:
            with self._lock.write():
                self._load()
            self._catch_up()
        # Until now entries_changed returned at once (an API write during a long
        # load does not wait for it); this second catch-up starts after the flag
        # is set, so it sees every change whose notification came before.
        self._loaded = True
        with self._sync:
            self._catch_up()
            self._ready.set()
        with self._sync, self._lock.write():
            for index in self._indexes.values():
                index.settle()
        if self.settings.match_snapshot_after_changes:  # a build, or a long replay
            self.save(only_after=self.settings.match_snapshot_after_changes)

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def close(self) -> None:
        """Stop the background thread and snapshot what changed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self._ready.is_set():
            self.save()

    def _run(self) -> None:
        try:
            self.load()
        except Exception as exc:  # readyz stays 503 and says why in the log
            self.load_error = str(exc)
            log.exception("could not load the matching indexes")
            return
        while not self._stop.wait(self.settings.match_poll_s):
            try:
                self.refresh()
                self._save_due()
            except Exception:
                log.exception("matching index refresh failed; retrying")

    # --- keeping in step -----------------------------------------------------

    def refresh(self) -> None:
        """Re-read the banks and apply changes made since the last call."""
        with self._sync:
            self._reload_banks()
            self._catch_up()

    def entries_changed(self, changes: Sequence[Change]) -> None:
        """BankService committed ``changes``: apply them (and any older) now."""
        if self._loaded:
            self._catch_up()

    def banks_changed(self, bank_ids: Sequence[str]) -> None:
        """A bank was created, updated, shared or deleted: re-read the banks now."""
        if self._loaded:
            self.refresh()

    def save(self, *, only_after: int | None = None) -> None:
        """Snapshot every bank index changed since its last snapshot.

        ``only_after``: only those that have had at least that many changes since.
        One bank at a time, each holding ``_sync`` (which keeps every writer out,
        so the snapshot is of one state): a change waits for at most one bank's
        write, not for all of them, and lookups go on throughout (they only read).
        """
        if self.read_only:
            return
        with self._lock.read():
            dirty = [
                bank_id
                for bank_id, index in self._indexes.items()
                if index.dirty and (only_after is None or index.unsaved >= only_after)
            ]
        for bank_id in dirty:
            with self._sync, self._lock.read():
                index = self._indexes.get(bank_id)
                if index is None or not index.dirty:
                    continue
                try:
                    index.save(self.directory / bank_id, self._watermark)
                except OSError as exc:
                    log.warning("could not snapshot the index of %s: %s", bank_id, exc)
        if only_after is None:
            self._saved_at = time.monotonic()

    def _save_due(self) -> None:
        """Snapshot what the policy asks for now (after N changes, or by time)."""
        if time.monotonic() - self._saved_at >= self.settings.match_snapshot_every_s:
            self.save()
        elif self.settings.match_snapshot_after_changes:
            self.save(only_after=self.settings.match_snapshot_after_changes)

    def _load(self) -> None:
        with self.store.session() as s, s.begin():
            # The watermark before the bank list: a bank created in between is not
            # listed, so all of its changes come after the watermark and are replayed.
            start = entry_repo.max_change_id(s)
        with self.store.session() as s, s.begin():
            banks = bank_repo.list_all_banks(s)
        self._banks = {b.id: b for b in banks}
        self._drop_stale_directories(self._banks)
        watermarks: dict[str, int] = {}
        to_build: list[Bank] = []
        for bank in banks:
            try:
                index, mark = BankIndex.load(bank, self.directory / bank.id)
            except SnapshotError as exc:
                log.info("building the index of bank %s from the database (%s)", bank.name, exc)
                to_build.append(bank)
                continue
            if not index.fits(bank):
                to_build.append(bank)
                continue
            index.dirty = index.bank != bank  # settings changed while we were down
            index.bank = bank
            self._indexes[bank.id] = index
            watermarks[bank.id] = mark
        for index in self._indexes.values():
            index.defer_folds(DEFERRED_ROWS)
        self._build(to_build)
        watermarks.update({b.id: start for b in to_build})
        self._watermark = min(watermarks.values(), default=start)
        self._replay_from(watermarks)

    def _drop_stale_directories(self, banks: Mapping[str, Bank]) -> None:
        """Remove the snapshot directories of banks that no longer exist."""
        if self.read_only or not self.directory.is_dir():
            return
        for sub in self.directory.iterdir():
            if sub.is_dir() and sub.name not in banks:
                shutil.rmtree(sub, ignore_errors=True)

    def _build(self, banks: Sequence[Bank]) -> None:
        """Index the active entries of ``banks`` from the database.

        The caller has read the change log's watermark *before* calling (see
        ``iter_active_entries``) and replays the changes after it.
        """
        if not banks:
            return
        for bank in banks:
            self._indexes[bank.id] = BankIndex(bank)
        pending: _Pending = {}
        framed: dict[str, dict[int, tuple[SignalKind, str]]] = {}  # bank -> seq -> kind, id
        count = 0
        with self.store.session() as s, s.begin():
            for entry in entry_repo.iter_active_entries(s, [b.id for b in banks]):
                if kind_spec(entry.signal).payload is Payload.FRAMES:
                    framed.setdefault(entry.bank_id, {})[entry.seq] = (entry.signal, entry.entry_id)
                    continue
                seqs, values, ids, variants = pending.setdefault(
                    (entry.bank_id, entry.signal), ([], [], [], [])
                )
                seqs.append(entry.seq)
                values.append(entry.value)
                ids.append(entry.entry_id)
                variants.append(entry.variants)
                count += 1
                if count % BUILD_CHUNK == 0:
                    self._flush(pending)
        self._flush(pending)
        if framed:
            with self.store.session() as s, s.begin():
                for bank_id, ids_of in framed.items():
                    for seq, frames in video_repo.iter_video_frames(s, [bank_id]):
                        if seq in ids_of:
                            kind, entry_id = ids_of[seq]
                            self._add_framed(self._indexes[bank_id], kind, seq, entry_id, frames)
        for bank in banks:
            index = self._indexes[bank.id]
            index.dirty = True
            index.unsaved = max(index.unsaved, len(index), 1)

    @staticmethod
    def _add_framed(
        index: BankIndex, kind: SignalKind, seq: int, entry_id: str, frames: Sequence[FrameHash]
    ) -> None:
        """An entry of a FRAMES kind (a video): its index value is its frames' vPDQ text."""
        index.add(kind, [seq], [format_vpdq(frames)], [entry_id])

    def _flush(self, pending: _Pending) -> None:
        for (bank_id, kind), (seqs, values, ids, variants) in pending.items():
            self._indexes[bank_id].add(kind, seqs, values, ids, variants)
        pending.clear()

    def _replay_from(self, watermarks: Mapping[str, int]) -> None:
        """Apply changes past each bank's own watermark (snapshots may differ in age)."""
        while True:
            with self.store.session() as s, s.begin():
                changes = entry_repo.changes_since(s, self._watermark, LOAD_PAGE)
            if not changes:
                return
            if any(c.bank_id not in self._banks for c in changes):
                self._reload_banks()  # created after the bank list was read
            fresh = [c for c in changes if c.id > watermarks.get(c.bank_id, 0)]
            self._apply(fresh)
            self._watermark = changes[-1].id

    def _catch_up(self) -> None:
        """Apply the change log past the watermark, a page at a time.

        Pages are read without the index lock; lookups wait only while one is
        applied.
        """
        with self._sync:
            while True:
                with self.store.session() as s, s.begin():
                    changes = entry_repo.changes_since(s, self._watermark, REPLAY_PAGE)
                if not changes:
                    return
                if any(c.bank_id not in self._banks for c in changes):
                    self._reload_banks()
                with self._lock.write():
                    self._apply(changes)
                    self._watermark = changes[-1].id
                self._notify(changes)
                if self._loaded and self.settings.match_snapshot_after_changes:
                    # A bulk import can outpace the poll loop: snapshot between
                    # pages, so a crash mid-catch-up replays at most about
                    # match_snapshot_after_changes + one page on restart.
                    self.save(only_after=self.settings.match_snapshot_after_changes)

    def _notify(self, changes: Sequence[Change]) -> None:
        if self._on_applied is not None:
            try:
                self._on_applied(changes)
            except Exception:
                log.exception("change hook failed on %d changes", len(changes))

    def _apply(self, changes: Sequence[Change]) -> None:
        by_bank: dict[str, list[Change]] = {}
        for change in changes:
            by_bank.setdefault(change.bank_id, []).append(change)
        for bank_id, group in by_bank.items():
            index = self._indexes.get(bank_id)
            if index is None:  # the bank is gone: its entries went with it
                continue
            # In log order: an entry removed then re-enabled ends up indexed.
            for run in _runs(group):
                if run[0].op is ChangeOp.ADD:
                    self._apply_adds(index, run)
                else:
                    index.remove(run)

    def _apply_adds(self, index: BankIndex, adds: Sequence[Change]) -> None:
        """Index ADD changes; an entry deleted since (no public id) is skipped."""
        for kind, group in group_adds(adds).items():
            live = [c for c in group if c.entry_id is not None]
            if kind_spec(kind).payload is Payload.VALUE:
                index.add(
                    kind,
                    [c.seq for c in live],
                    [c.value for c in live],
                    [c.entry_id or "" for c in live],
                    [c.variants for c in live],
                )
                continue
            with self.store.session() as s, s.begin():
                frames = video_repo.frames_of(s, [c.seq for c in live])
            for c in live:
                if frames.get(c.seq):
                    self._add_framed(index, kind, c.seq, c.entry_id or "", frames[c.seq])

    def _reload_banks(self) -> None:
        with self.store.session() as s, s.begin():
            banks = {b.id: b for b in bank_repo.list_all_banks(s)}
        with self._lock.write():
            self._adopt_banks(banks)

    def _adopt_banks(self, banks: dict[str, Bank]) -> None:
        for bank_id in set(self._indexes) - set(banks):
            del self._indexes[bank_id]  # deleted: so is its snapshot directory
            if not self.read_only:
                shutil.rmtree(self.directory / bank_id, ignore_errors=True)
        rebuild = []
        for bank in banks.values():
            index = self._indexes.get(bank.id)
            if index is None:
                # New since the last look: every entry it has came after our
                # watermark (we list banks before applying their changes).
                self._indexes[bank.id] = BankIndex(bank)
                self._indexes[bank.id].dirty = True
            elif not index.fits(bank):
                rebuild.append(bank)
            elif index.bank != bank:
                index.bank = bank
                index.dirty = True  # bank.json beside the snapshot is out of date
        self._banks = banks
        if rebuild:
            self._rebuild(rebuild)

    def _rebuild(self, banks: Sequence[Bank]) -> None:
        """A bank's threshold rose past its index's ceiling: index it again.

        The build reads the database as it is now; changes it already holds that
        the catch-up replays again are harmless (replay is idempotent).
        """
        log.info("re-indexing %s for a higher threshold", ", ".join(b.name for b in banks))
        self._build(banks)  # changes after self._watermark are replayed by the catch-up

    # --- lookups -------------------------------------------------------------

    def snapshot_for(self, principal: Principal) -> BankSnapshot:
        """The caller's visible, enabled banks, as the pipeline queries them.

        Waits for the start-up load (up to ``match_ready_wait_s``), then
        :class:`~jikimi.errors.IndexNotReady`.
        """
        self._await_ready()
        with self._lock.read():
            return BankSnapshot.of(
                list(self._indexes.values()), principal.tenant_id, guard=self._lock.read
            )

    def matcher_for(self, principal: Principal) -> BankSnapshot:
        """The pipeline's view of the caller's banks (:meth:`snapshot_for`)."""
        return self.snapshot_for(principal)

    def match_hashes(self, principal: Principal, signals: Sequence[Signal]) -> list[list[Match]]:
        """Matches of each hash in the caller's visible banks, nearest first."""
        require(principal, Permission.MATCH)
        return self.snapshot_for(principal).match_each(signals)

    def match_item(
        self,
        principal: Principal,
        signals: Sequence[Signal],
        dihedral: Callable[[], Sequence[str]],
        variants: Variants | None = None,
    ) -> tuple[Match, ...]:
        """Matches of one scanned item (all its signals), as the pipeline would find them."""
        snapshot = self.snapshot_for(principal)
        if variants is None:
            return snapshot.match(signals, dihedral)
        return snapshot.match(signals, dihedral, variants)

    def _await_ready(self) -> None:
        """Lookups during start-up wait for the load rather than miss every bank."""
        if not self._ready.wait(self.settings.match_ready_wait_s):
            raise IndexNotReady(
                "the bank indexes are still loading; retry shortly (GET /readyz says when)"
            )

    def bank_count(self) -> int:
        with self._lock.read():
            return len(self._indexes)

    def entry_count(self) -> int:
        with self._lock.read():
            return sum(len(index) for index in self._indexes.values())


def _runs(changes: Sequence[Change]) -> list[list[Change]]:
    """Consecutive changes with the same op (applied in batches, in log order)."""
    runs: list[list[Change]] = []
    for change in changes:
        if runs and runs[-1][0].op is change.op:
            runs[-1].append(change)
        else:
            runs.append([change])
    return runs


def load_snapshot(store: Store, settings: Settings, principal: Principal) -> BankSnapshot:
    """The caller's banks as a scan through the API would see them now, for a process
    that scans on its own (``jikimi scan``): the server's snapshot files, caught up
    with the database, never written back."""
    require(principal, Permission.SCAN)
    service = MatchService(store, settings, read_only=True)
    service.load()
    return service.snapshot_for(principal)

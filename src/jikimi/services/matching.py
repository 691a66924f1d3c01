"""The matching service: in-memory bank indexes kept in step with the database.

::

    start() ─► background thread:
                 banks ─► per bank: snapshot (data_dir/index/<bank id>/) if readable,
                          else build from the database (watermark read first)
                       ─► replay the change log past each bank's watermark ─► ready
                 then every poll_s: refresh banks, replay new changes
                 (imports by the CLI, other worker processes), snapshot dirty banks
                 every snapshot_every_s and on close()
    BankService ─► entries_changed / banks_changed ─► catch up now, synchronously:
                 a withdrawn hash stops matching before the API call returns
    match_hashes(principal, signals) ─► the caller's visible, enabled banks
    matcher_for(principal)           ─► the same, as the pipeline's Matcher

The database is the source of truth and the change log (``changes``, ids in
commit order) the only way changes reach an index, whichever process made
them: replaying is idempotent, so a snapshot that is older than the database
(a crash after the database commit, before the next snapshot) only costs a
longer replay.

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
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from jikimi.config import Settings
from jikimi.domain import Bank, Change, ChangeOp, Permission, Principal
from jikimi.errors import IndexNotReady, InvalidHash, InvalidInput
from jikimi.matching import SnapshotError, parse_pdq_hex
from jikimi.model import BankKind, Match, Signal, SignalKind, Variant
from jikimi.services._common import require
from jikimi.services._rwlock import ReadWriteLock
from jikimi.services.bank_index import BankIndex, apply_adds
from jikimi.signals.variants import VariantHash
from jikimi.signals.vpdq import FrameHash, parse_vpdq
from jikimi.store import Store
from jikimi.store import banks as bank_repo
from jikimi.store import entries as entry_repo
from jikimi.store import video as video_repo

log = logging.getLogger(__name__)

REPLAY_PAGE = 50_000
"""Changes read per query while catching up (bounds memory during a big import)."""
BUILD_CHUNK = 200_000
"""Entries parsed per step while building an index from the database."""

ChangeHook = Callable[[Sequence[Change]], None]
"""Told about changes once they are applied (retroactive matching listens)."""


class MatchService:
    """Bank lookups for every door (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        on_applied: ChangeHook | None = None,
    ) -> None:
        self.store = store
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
                if time.monotonic() - self._saved_at >= self.settings.match_snapshot_every_s:
                    self.save()
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

    def save(self) -> None:
        """Snapshot every bank index changed since its last snapshot.

        One bank at a time, each holding ``_sync`` (which keeps every writer out,
        so the snapshot is of one state): a change waits for at most one bank's
        write, not for all of them, and lookups go on throughout (they only read).
        """
        with self._lock.read():
            dirty = [bank_id for bank_id, index in self._indexes.items() if index.dirty]
        for bank_id in dirty:
            with self._sync, self._lock.read():
                index = self._indexes.get(bank_id)
                if index is None or not index.dirty:
                    continue
                try:
                    index.save(self.directory / bank_id, self._watermark)
                except OSError as exc:
                    log.warning("could not snapshot the index of %s: %s", bank_id, exc)
        self._saved_at = time.monotonic()

    def _load(self) -> None:
        with self.store.session() as s, s.begin():
            # The watermark before the bank list: a bank created in between is not
            # listed, so all of its changes come after the watermark and are replayed.
            start = entry_repo.max_change_id(s)
        with self.store.session() as s, s.begin():
            banks = bank_repo.list_all_banks(s)
        self._banks = {b.id: b for b in banks}
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
            self._indexes[bank.id] = index
            watermarks[bank.id] = mark
        self._build(to_build)
        watermarks.update({b.id: start for b in to_build})
        built = {b.id for b in to_build}
        self._load_videos([b for b in banks if b.id not in built])  # _build did its own
        self._watermark = min(watermarks.values(), default=start)
        self._replay_from(watermarks)

    def _build(self, banks: Sequence[Bank]) -> None:
        """Index the active entries of ``banks`` (hashes and videos) from the database.

        The caller has read the change log's watermark *before* calling (see
        ``iter_active_entries``) and replays the changes after it.
        """
        if not banks:
            return
        for bank in banks:
            self._indexes[bank.id] = BankIndex(bank)
        pending: dict[tuple[str, SignalKind], tuple[list[int], list[str]]] = {}
        count = 0
        with self.store.session() as s, s.begin():
            for entry in entry_repo.iter_active_entries(s, [b.id for b in banks]):
                if entry.signal is SignalKind.VPDQ:
                    continue  # frames come from video_frames: see _load_videos
                seqs, values = pending.setdefault((entry.bank_id, entry.signal), ([], []))
                seqs.append(entry.seq)
                values.append(entry.value)
                count += 1
                if count % BUILD_CHUNK == 0:
                    self._flush(pending)
        self._flush(pending)
        self._load_videos(banks)
        for bank in banks:
            self._indexes[bank.id].dirty = True

    def _flush(self, pending: dict[tuple[str, SignalKind], tuple[list[int], list[str]]]) -> None:
        for (bank_id, signal), (seqs, values) in pending.items():
            self._indexes[bank_id].add_hashes(signal, seqs, values)
        pending.clear()

    def _load_videos(self, banks: Sequence[Bank]) -> None:
        """Video indexes are not snapshotted: read their frames from the database."""
        with self.store.session() as s, s.begin():
            for bank in banks:
                videos = video_repo.iter_video_frames(s, [bank.id])
                self._indexes[bank.id].add_videos(videos, only_if_any=True)

    def _add_videos(self, index: BankIndex, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        with self.store.session() as s, s.begin():
            frames = video_repo.frames_of(s, seqs)
        index.add_videos((seq, frames[seq]) for seq in seqs if frames.get(seq))

    def _replay_from(self, watermarks: Mapping[str, int]) -> None:
        """Apply changes past each bank's own watermark (snapshots may differ in age)."""
        while True:
            with self.store.session() as s, s.begin():
                changes = entry_repo.changes_since(s, self._watermark, REPLAY_PAGE)
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
                    self._add_videos(index, apply_adds(index, run))
                else:
                    index.remove(run)

    def _reload_banks(self) -> None:
        with self.store.session() as s, s.begin():
            banks = {b.id: b for b in bank_repo.list_all_banks(s)}
        with self._lock.write():
            self._adopt_banks(banks)

    def _adopt_banks(self, banks: dict[str, Bank]) -> None:
        for bank_id in set(self._indexes) - set(banks):
            del self._indexes[bank_id]  # deleted: its snapshot directory is left to expire
        rebuild = []
        for bank in banks.values():
            index = self._indexes.get(bank.id)
            if index is None:
                # New since the last look: every entry it has came after our
                # watermark (we list banks before applying their changes).
                self._indexes[bank.id] = BankIndex(bank)
            elif not index.fits(bank):
                rebuild.append(bank)
            else:
                index.bank = bank
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

    def _visible(self, principal: Principal) -> list[BankIndex]:
        """The caller's own and shared banks that are enabled, in a stable order."""
        return [
            index
            for bank_id, index in sorted(self._indexes.items())
            if index.bank.enabled
            and (
                index.bank.tenant_id == principal.tenant_id
                or principal.tenant_id in index.bank.shared_with
            )
        ]

    def match_hashes(self, principal: Principal, signals: Sequence[Signal]) -> list[list[Match]]:
        """Matches of each hash in the caller's visible banks, nearest first.

        Hash-only lookups cannot use dihedral matching (the flips are computed
        from the image, not from its hash): a platform that wants them sends the
        eight variants as eight hashes.
        """
        require(principal, Permission.MATCH)
        self._await_ready()
        pdq_at = [i for i, signal in enumerate(signals) if signal.type is SignalKind.PDQ]
        # Parsed up front: a bad hash is refused even when no bank would be asked.
        parsed = parse_pdq_hex([signals[i].value.lower() for i in pdq_at])
        found: list[list[_Hit]] = [[] for _ in signals]
        with self._lock.read():
            banks = self._visible(principal)
            for index in banks:  # one vectorised query per bank for every PDQ hash
                for i, hits in zip(pdq_at, index.query_pdq_each(parsed), strict=True):
                    found[i] += [_Hit(index.bank, SignalKind.PDQ, s, d) for s, d in hits]
            for i, signal in enumerate(signals):
                if signal.type is not SignalKind.PDQ:
                    found[i] = self._match_one(banks, signal, None)
            labels = _labels(principal, banks)
        return self._resolve(found, labels)

    def matcher_for(self, principal: Principal) -> BankMatcher:
        """The pipeline's view of the caller's banks (evaluated at match time)."""
        return BankMatcher(self, principal)

    def _match_one(
        self,
        banks: Sequence[BankIndex],
        signal: Signal,
        dihedral: Callable[[], Sequence[str]] | None,
    ) -> list[_Hit]:
        hits: list[_Hit] = []
        value = signal.value.lower()
        if signal.type is SignalKind.PDQ:
            plain = parse_pdq_hex([value])  # InvalidHash for a bad one, even with no bank
            flips: NDArray[np.uint8] | None = None  # computed once, if a bank wants them
            for index in banks:
                hashes = plain
                if index.bank.dihedral and dihedral is not None:
                    if flips is None:
                        flips = parse_pdq_hex([value, *dihedral()])
                    hashes = flips
                for seq, distance in index.query_pdq(hashes).items():
                    hits.append(_Hit(index.bank, SignalKind.PDQ, seq, distance))
        elif signal.type in (SignalKind.MD5, SignalKind.SHA256):
            for index in banks:
                for seq in index.query_digest(signal.type, value):
                    hits.append(_Hit(index.bank, signal.type, seq, 0))
        elif signal.type is SignalKind.VPDQ:
            frames = _frames(signal.value)
            for index in banks:
                for hit in index.query_video(frames):
                    shares = (round(hit.query_share, 4), round(hit.index_share, 4))
                    hits.append(
                        _Hit(index.bank, SignalKind.VPDQ, hit.entry_id, hit.distance, shares)
                    )
        else:
            raise InvalidInput(f"cannot match {signal.type.value} hashes")
        return hits

    def _resolve(
        self, found: Sequence[Sequence[_Hit]], labels: Mapping[str, str]
    ) -> list[list[Match]]:
        """Index hits as Matches: public entry ids from the database, nearest first."""
        seqs = {hit.seq for hits in found for hit in hits}
        refs = {}
        if seqs:
            with self.store.session() as s, s.begin():
                refs = entry_repo.entry_refs(s, seqs)
        out: list[list[Match]] = []
        for hits in found:
            matches = [
                Match(
                    bank=labels[hit.bank.id],
                    signal=hit.signal,
                    distance=hit.distance,
                    entry=refs[hit.seq].entry_id,
                    query_share=hit.shares[0] if hit.shares else None,
                    index_share=hit.shares[1] if hit.shares else None,
                    via=hit.via,
                )
                for hit in sorted(hits, key=lambda h: (h.distance, labels[h.bank.id], h.seq))
                if hit.seq in refs  # deleted since the lookup: not a match any more
            ]
            out.append(matches)
        return out

    def match_item(
        self,
        principal: Principal,
        signals: Sequence[Signal],
        dihedral: Callable[[], Sequence[str]],
        *,
        variants: Callable[[], Sequence[VariantHash]] | None = None,
    ) -> tuple[tuple[Match, ...], dict[str, BankKind]]:
        """Matches of one scanned item (all its signals) and the kinds of their banks.

        ``variants()``: the image's PDQ with its frame cut off, looked up in the
        banks with ``variants`` on (see :func:`variant_hits`).
        """
        self._await_ready()
        with self._lock.read():
            banks = self._visible(principal)
            hits = [hit for signal in signals for hit in self._match_one(banks, signal, dihedral)]
            if variants is not None:
                hits += variant_hits(banks, variants, {hit.seq for hit in hits})
            labels = _labels(principal, banks)
        kinds = {labels[index.bank.id]: index.bank.kind for index in banks}
        best: dict[int, _Hit] = {}
        for hit in hits:  # one match per entry, at its closest
            if hit.seq not in best or hit.distance < best[hit.seq].distance:
                best[hit.seq] = hit
        return tuple(self._resolve([list(best.values())], labels)[0]), kinds

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


class _Hit:
    __slots__ = ("bank", "distance", "seq", "shares", "signal", "via")

    def __init__(
        self,
        bank: Bank,
        signal: SignalKind,
        seq: int,
        distance: int,
        shares: tuple[float, float] | None = None,
        via: Variant | None = None,
    ) -> None:
        self.bank = bank
        self.signal = signal
        self.seq = seq
        self.distance = distance
        self.shares = shares
        self.via = via


# --- re-shared copies (issue 15): variant hashes of the scanned image -------------


def variant_hits(
    banks: Sequence[BankIndex],
    variants: Callable[[], Sequence[VariantHash]],
    matched: Collection[int],
) -> list[_Hit]:
    """Entries matched only through a variant of the image (its frame cut off).

    Only banks with ``variants`` on are asked, each at its own threshold (the
    variants' flips too if the bank is ``dihedral``). An entry the image's own
    hashes matched (``matched``) keeps that match: the plain lookup stays what
    it was, variants only add. ``variants()`` is not called if no bank asks.
    """
    asking = [index for index in banks if index.bank.variants and len(index.pdq)]
    if not asking:
        return []
    found = variants()
    if not found:
        return []
    straight = [(v.value, v.via) for v in found]
    flipped = [(h, v.via) for v in found for h in (v.flips or (v.value,))]
    parsed: dict[bool, NDArray[np.uint8]] = {}
    best: dict[int, _Hit] = {}
    for index in asking:
        flips = index.bank.dihedral
        hashes = flipped if flips else straight
        if flips not in parsed:
            parsed[flips] = parse_pdq_hex([h for h, _ in hashes])
        for (_, via), hits in zip(hashes, index.query_pdq_each(parsed[flips]), strict=True):
            for seq, distance in hits:
                if seq in matched or (seq in best and best[seq].distance <= distance):
                    continue
                best[seq] = _Hit(index.bank, SignalKind.PDQ, seq, distance, via=via)
    return list(best.values())


class BankMatcher:
    """A :class:`~jikimi.pipeline.Matcher` over one caller's banks.

    ``bank_kinds`` answers for the banks of the last :meth:`match` (what the
    policy needs to read those matches), so the two always agree.
    """

    def __init__(self, service: MatchService, principal: Principal) -> None:
        self._service = service
        self._principal = principal
        self._kinds: dict[str, BankKind] = {}

    def match(
        self,
        signals: Sequence[Signal],
        dihedral: Callable[[], Sequence[str]],
        *,
        variants: Callable[[], Sequence[VariantHash]] | None = None,
    ) -> tuple[Match, ...]:
        matches, self._kinds = self._service.match_item(
            self._principal, signals, dihedral, variants=variants
        )
        return matches

    def bank_kinds(self) -> Mapping[str, BankKind]:
        return self._kinds


def _labels(principal: Principal, banks: Sequence[BankIndex]) -> dict[str, str]:
    """How each visible bank is named in Matches (and keyed for the policy).

    Names are unique within a tenant only: a bank shared with the caller may
    have the name of one of the caller's own. Such a shared bank is named by
    its id (which the API also accepts wherever a bank name goes), so a match
    in someone else's takedown bank is never read as one in the caller's
    suppression bank of the same name, or the other way round.
    """
    own = {i.bank.name for i in banks if i.bank.tenant_id == principal.tenant_id}
    shared_names = [i.bank.name for i in banks if i.bank.tenant_id != principal.tenant_id]
    labels: dict[str, str] = {}
    for index in banks:
        bank = index.bank
        clash = bank.tenant_id != principal.tenant_id and (
            bank.name in own or shared_names.count(bank.name) > 1
        )
        labels[bank.id] = bank.id if clash else bank.name
    return labels


def _runs(changes: Sequence[Change]) -> list[list[Change]]:
    """Consecutive changes with the same op (applied in batches, in log order)."""
    runs: list[list[Change]] = []
    for change in changes:
        if runs and runs[-1][0].op is change.op:
            runs[-1].append(change)
        else:
            runs.append([change])
    return runs


def _frames(text: str) -> list[FrameHash]:
    try:
        return parse_vpdq(text)
    except InvalidInput as exc:
        raise InvalidHash(f"not a valid vpdq hash file: {exc.message}") from exc

"""Retroactive matching: new bank entries are checked against scans stored earlier.

A hash added to a bank today should find the upload that was scanned last
week, when nobody knew it yet. This runs in the background of the API process::

    changes log (ADD, id > retro watermark) ─► every retro_batch_s, or when woken:
        per bank: the tenants that see it (owner + shares)
          exact kinds (MD5, SHA-256) ─► indexed lookup of their stored scans' keys
          other kinds (PDQ, vPDQ)    ─► a small index of the new entries (the kind's
                           own index class, from jikimi.matching.kinds); their stored
                           scans of that kind streamed through it (the bank's
                           threshold and video shares, as when scanning)
        ─► scan_matches rows (repeats ignored) ─► watermark saved (database)

Only scans started before the entry was added are checked (later ones were
matched when they were scanned). A change is handled once it is
``retro_settle_s`` old, so that the scans running when it arrived have been
stored by then; a scan job running longer than that may miss an entry added
during it. The watermark and the right to do the work live in the database
(``shared_state``: ``watermark:retro`` and the lease ``lease:retro``), so any
number of API processes, on one box or many, share one matcher: the holder of
the lease (renewed every pass, ``retro_lease_s``) does the work, the others
wait and take over once it lapses (the holder died) or is released (shutdown).
The watermark is written only while the lease is held, so a process that lost
it cannot move the mark back. After a crash the last batch is simply done again
(recording a match twice is a no-op). Not covered: dihedral variants of stored
scans (only the upload's own PDQ is stored).

A video matches later exactly as it would have when scanned
(:class:`~jikimi.matching.indexes.VpdqSignalIndex`: the bank's
``pdq_threshold``, ``vpdq_query_pct`` and ``vpdq_index_pct`` as they are when the
check runs), reading the frames the stored Verdict's ``vpdq`` signal holds. Its
late match records the closest frame distance only: ``scan_matches`` has no
columns for the two shares, so such a match shows ``query_share`` and
``index_share`` as null in ``GET /v1/scans/{id}``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.orm import Session

from jikimi.config import Settings
from jikimi.domain import Bank, Change, ChangeOp, ScanMatch
from jikimi.errors import InvalidInput
from jikimi.matching.bank_index import group_adds, index_ceiling, options_for
from jikimi.matching.kinds import KindSpec, Payload, kind_spec
from jikimi.services._common import now, runner_id
from jikimi.signals.vpdq import format_vpdq
from jikimi.store import Store
from jikimi.store import banks as bank_repo
from jikimi.store import entries as entry_repo
from jikimi.store import scans as scan_repo
from jikimi.store import shared as shared_repo
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
LEASE = "lease:retro"
"""The lease whose holder does retroactive matching for every process."""
WATERMARK = "watermark:retro"
"""The last change checked (``shared_state``)."""


class RetroMatcher:
    """Background re-checking of stored scans (see the module docstring)."""

    def __init__(self, store: Store, settings: Settings, *, owner: str | None = None) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner or runner_id()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.recorded = 0
        """Matches recorded by this process (for tests and metrics)."""
        self.passes = 0
        """Passes that found work in this process (for tests and metrics)."""

    def start(self) -> None:
        """Run in a background thread; it works only while it holds the lease."""
        if self._thread is not None:
            return
        self._stop.clear()
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
        try:
            with self.store.session(write=True) as s, s.begin():
                shared_repo.release_lease(s, LEASE, self.owner, now())
        except Exception:  # the database is gone: the lease lapses by itself
            log.warning("could not release the retroactive matching lease", exc_info=True)

    def holds_lease(self) -> bool:
        """Take or renew the lease; whether this process may do the work now."""
        at = now()
        until = at + timedelta(seconds=self.settings.retro_lease_s)
        with self.store.session(write=True) as s, s.begin():
            return shared_repo.take_lease(s, LEASE, self.owner, at, until)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.run_once() and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("retroactive matching failed; retrying")
            # Woken early only helps the lease holder; the others look once a batch.
            self._wake.wait(self.settings.retro_batch_s)
            self._wake.clear()

    # --- one pass ------------------------------------------------------------

    def watermark(self) -> int:
        """The last change already checked (starts at the log's end: history is not redone)."""
        with self.store.session() as s, s.begin():
            text = shared_repo.get_value(s, WATERMARK)
        if text is not None:
            return int(text)
        with self.store.session(write=True) as s, s.begin():
            # Two processes starting at once agree on the first one's mark.
            return int(shared_repo.pin(s, WATERMARK, str(entry_repo.max_change_id(s)), now()))

    def set_watermark(self, mark: int) -> None:
        """Move the watermark (an operator redoing a range, or a test)."""
        with self.store.session(write=True) as s, s.begin():
            shared_repo.set_value(s, WATERMARK, str(mark), now())

    def run_once(self) -> bool:
        """Check the next page of new entries; False when there was nothing to do
        (or another process holds the lease)."""
        if not self.holds_lease():
            return False
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
            if not self.holds_lease():  # renewed between banks: a long pass keeps it
                return False
            self._check_bank(bank_id, group)
        if not self._save_mark(changes[-1].id):
            log.warning("retroactive matching: the lease was lost during a pass; not saved")
            return False
        self.passes += 1
        return True

    def _check_bank(self, bank_id: str, adds: Sequence[Change]) -> None:
        with self.store.session() as s, s.begin():
            bank = bank_repo.get_bank(s, bank_id)
        if bank is None or not bank.enabled:
            return
        tenants = [bank.tenant_id, *bank.shared_with]
        found: list[ScanMatch] = []
        with self.store.session() as s, s.begin():
            for kind, group in group_adds(adds).items():
                spec = kind_spec(kind)
                if spec.exact:
                    found += _exact_hits(s, tenants, spec, group)
                    continue
                per_pass = len(group) if spec.payload is Payload.VALUE else VIDEOS_PER_PASS
                for start in range(0, len(group), per_pass):
                    found += _streamed_hits(s, bank, tenants, spec, group[start : start + per_pass])
        if found:
            with self.store.session(write=True) as s, s.begin():
                new = scan_repo.add_scan_matches(s, found, now())
            self.recorded += new
            log.info("retroactive matching: %d new matches in bank %s", new, bank.name)

    def _save_mark(self, mark: int) -> bool:
        """Save the watermark if this process still holds the lease."""
        with self.store.session(write=True) as s, s.begin():
            return shared_repo.save_if_held(s, WATERMARK, str(mark), LEASE, self.owner, now())


def _exact_hits(
    s: Session, tenants: Sequence[str], spec: KindSpec, adds: Sequence[Change]
) -> list[ScanMatch]:
    """Equality-only kinds: the stored scans with the new entries' keys (indexed lookup)."""
    seqs_of: dict[str, list[Change]] = {}
    for change in adds:
        seqs_of.setdefault(spec.scan_key(change.value.lower()), []).append(change)
    out: list[ScanMatch] = []
    for scan in scan_repo.find_scans_by_key(s, tenants, spec.kind, list(seqs_of)):
        for change in seqs_of.get(scan.value, []):
            if scan.created_at < change.at:
                out.append(ScanMatch(scan_id=scan.scan_id, entry_seq=change.seq, distance=0))
    return out


def _streamed_hits(
    s: Session, bank: Bank, tenants: Sequence[str], spec: KindSpec, adds: Sequence[Change]
) -> list[ScanMatch]:
    """Other kinds: the new entries go into an index of their own (the kind's index class,
    under the bank's options, as when scanning) and the tenants' stored scans of that
    kind are streamed through it. A new entry whose frames are gone (deleted since) is
    left out; a stored value that no longer parses is skipped with a warning (raising
    would retry this batch forever)."""
    added_at = {c.seq: c.at for c in adds}
    index = spec.new_index(index_ceiling(bank.pdq_threshold))
    if spec.payload is Payload.VALUE:
        index.add([c.seq for c in adds], [c.value for c in adds])
    else:
        frames = video_repo.frames_of(s, added_at)
        if not frames:
            return []
        index.add(list(frames), [format_vpdq(f) for f in frames.values()])
    full = spec.payload is not Payload.VALUE  # the key is an identity: read the frames
    chunk = VIDEO_CHUNK if full else SCAN_CHUNK
    options = options_for(bank)
    out: list[ScanMatch] = []
    pending: list[scan_repo.ScanSignal] = []

    def check(scans: Sequence[scan_repo.ScanSignal]) -> None:
        try:
            results = index.query([scan.value for scan in scans], options)
        except InvalidInput as exc:
            if len(scans) > 1:
                for scan in scans:
                    check([scan])
                return
            log.warning(
                "retroactive matching: scan %s has a bad %s signal: %s",
                scans[0].scan_id,
                spec.kind.value,
                exc.message,
            )
            return
        for scan, hits in zip(scans, results, strict=True):
            for hit in hits:
                if scan.created_at < added_at[hit.entry_id]:
                    out.append(
                        ScanMatch(
                            scan_id=scan.scan_id, entry_seq=hit.entry_id, distance=hit.distance
                        )
                    )

    before = max(added_at.values())
    for scan in scan_repo.iter_scan_signals(
        s, tenants, spec.kind, before=before, full=full, batch_size=chunk
    ):
        pending.append(scan)
        if len(pending) >= chunk:
            check(pending)
            pending = []
    if pending:
        check(pending)
    return out

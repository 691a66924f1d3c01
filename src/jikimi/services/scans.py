"""Scans as a service: the pipeline with the caller's banks, every Verdict stored.

::

    ScanService.scan_many(principal, items)
        └─► LazyScanner.with_matcher(matcher_for(principal), faces_for(principal))
            ─► Scanner.scan_many  (faces_for: the tenant's enrolled persons, optional)
        └─► store.scans.save_scan (one transaction per batch): the Verdict as JSON,
            a (kind, key) row per signal for retroactive matching (``scan_keys``)
    ScanService.get(principal, scan_id)
        └─► the stored Verdict, with matches found later appended

Stored in the database (not in process memory) so that ``GET /v1/scans/{id}``
answers from any worker process and after a restart. Error Verdicts (media the
pipeline could not read) are returned, not stored: they carry no hashes, and
the door reports them as problems, so nobody holds their id.

A batch is stored in one transaction. If that fails with something unexpected
(one Verdict the database refuses), each Verdict is stored on its own, so the
one that cannot be stored becomes that item's ``internal_error`` Verdict and
the others are kept; only when none can be stored (the database is away) does
the error reach the caller.

An item whose ``source`` names an ``uploader`` (a platform's id of the account that
uploaded it) is linked to that tenant's :class:`~jikimi.cases.types.Source`: the
source is found or made before the scan, its standing (confirmed items, removed or
held uploads) goes to the policy's source conditions, the Verdict's ``source``
carries its ``source_id``, and the stored scan is counted for the source with the
action taken (``source_scans``), so the next upload sees it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from jikimi.config import Settings
from jikimi.domain import Permission, Principal, SignalKind, Verdict, limits
from jikimi.errors import InvalidInput, JikimiError, NotFound
from jikimi.matching.kinds import banked_kinds, kind_spec
from jikimi.pipeline import FaceMatcher, Item, Matcher, Scanner, ScanProgress, failed_verdict
from jikimi.services._common import now, require
from jikimi.services.casereports import risk_of
from jikimi.store import Store
from jikimi.store import casework as case_repo
from jikimi.store import scans as scan_repo

log = logging.getLogger(__name__)

UPLOADER = "uploader"
"""The key of an item's ``source`` that names the account that uploaded it."""


def uploader_of(source: Mapping[str, Any]) -> str | None:
    """The uploader id an item's ``source`` names, if any."""
    value = source.get(UPLOADER)
    return value if isinstance(value, str) and value else None


def check_uploader(value: str) -> str:
    """A platform's uploader id as stored: 1 to 500 printable characters, trimmed
    (:data:`jikimi.domain.limits.Uploader`)."""
    return limits.check("uploader", value)


def scan_keys(verdict: Verdict) -> list[tuple[SignalKind, str]]:
    """What a stored scan keeps of each banked kind of signal (see ``matching.kinds``)."""
    banked = banked_kinds()
    keys: list[tuple[SignalKind, str]] = []
    for signal in verdict.signals or ():
        if signal.type in banked:
            try:
                keys.append((signal.type, kind_spec(signal.type).scan_key(signal.value)))
            except InvalidInput:  # e.g. a video with no hashed frame: nothing to match later
                continue
    return keys


StoreHook = Callable[[Session, Sequence[Verdict]], None]
"""Work that must commit together with stored Verdicts (or not at all)."""
HeldHook = Callable[[Principal, Sequence[Item], Sequence[Verdict]], None]
"""Work after Verdicts are stored, with their items (the review queue keeps held media)."""
TenantStoreHook = Callable[[Session, str, Sequence[Verdict]], None]
"""The same, told the tenant whose Verdicts they are (the outbox of consequences)."""

KeepFaces = Callable[[Session, str, Sequence[Verdict], FaceMatcher | None, datetime], None]
"""Keeps the stored scans' face templates, sealed, in the same transaction
(retroactive face matching, ``jikimi.services.face_retro``)."""


class LazyScanner:
    """One :class:`Scanner` per process, built on first use, thread-safe.

    The heavy parts (the nudity model, the rules) are read-only once loaded, so
    every thread shares them; :meth:`with_matcher` gives a caller's view of the
    banks without copying anything.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._scanner: Scanner | None = None
        self._lock = threading.Lock()

    def get(self) -> Scanner:
        scanner = self._scanner
        if scanner is None:
            with self._lock:
                if self._scanner is None:
                    self._scanner = Scanner.from_settings(self._settings)
                scanner = self._scanner
        return scanner

    def with_matcher(self, matcher: Matcher | None, faces: FaceMatcher | None = None) -> Scanner:
        """The shared scanner (video options included) with ``matcher`` (and ``faces``)."""
        return self.get().with_matcher(matcher, faces)

    def warm_up(self) -> None:
        self.get().warm_up()


class ScanService:
    """Scan for a caller and keep the result (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        scanner: LazyScanner,
        matcher_for: Callable[[Principal], Matcher | None],
        *,
        faces_for: Callable[[Principal], FaceMatcher | None] | None = None,
        on_stored: StoreHook | None = None,
        keep_faces: KeepFaces | None = None,
    ) -> None:
        self.store = store
        self.scanner = scanner
        self._matcher_for = matcher_for
        self._faces_for = faces_for
        self.on_stored = on_stored
        """Runs in every transaction that stores Verdicts (casework links re-uploads there)."""
        self.keep_faces = keep_faces
        self.on_stored_for: TenantStoreHook | None = None
        """Also runs there, with the tenant (``jikimi.actions`` writes its outbox rows)."""
        self.on_held: HeldHook | None = None
        """Runs after Verdicts are stored, with their items (the review queue keeps held media)."""

    def scan_many(
        self,
        principal: Principal,
        items: Sequence[Item],
        progress: ScanProgress | None = None,
        *,
        also: StoreHook | None = None,
    ) -> list[Verdict]:
        """Scan items in order with the caller's banks; store the Verdicts that succeeded.

        ``also`` runs inside the transaction that stores them (a scan job marks
        itself done there); if it raises, nothing is stored and the error
        propagates. Without ``also``, a batch whose storing fails unexpectedly is
        stored item by item (see the module docstring).
        """
        require(principal, Permission.SCAN)
        # Stamped before the bank lookup: an entry added while the scan runs is
        # newer than the scan, so retroactive matching checks it.
        at = now()
        items = self._with_standing(principal, items, at)
        faces = self._faces_for(principal) if self._faces_for is not None else None
        scanner = self.scanner.with_matcher(self._matcher_for(principal), faces)
        verdicts = scanner.scan_many(items, progress)
        stored = [v for v in verdicts if v.error is None]
        if not stored:
            return verdicts
        try:
            self._save(principal, stored, at, also, faces)
        except JikimiError:
            raise
        except Exception as exc:
            if also is not None or len(stored) == 1:
                raise
            log.warning(
                "storing %d scans together failed (%s); storing them one by one",
                len(stored),
                type(exc).__name__,
            )
            verdicts = self._save_each(principal, verdicts, at, exc, faces)
        if self.on_held is not None:
            self.on_held(principal, items, verdicts)
        return verdicts

    def _with_standing(
        self, principal: Principal, items: Sequence[Item], at: datetime
    ) -> Sequence[Item]:
        """Items with their uploader's source (found or made) and its standing."""
        handles = {h for h in (uploader_of(i.source) for i in items) if h is not None}
        if not handles:
            return items
        tenant = principal.tenant_id
        with self.store.session(write=True) as s, s.begin():
            standing = {}
            for handle in handles:
                source = case_repo.get_or_create_source(s, tenant, None, handle, at)
                listed = case_repo.list_items(s, tenant, source_id=source.id)
                actions = case_repo.source_scan_actions(s, tenant, source.id)
                standing[handle] = risk_of(source, listed, at, actions)
        out = []
        for item in items:
            named = uploader_of(item.source)
            if named is None:
                out.append(item)
                continue
            risk = standing[named]
            echoed = {**item.source, "source_id": risk.source.id}
            out.append(replace(item, source=echoed, standing=risk))
        return out

    def _save(
        self,
        principal: Principal,
        verdicts: Sequence[Verdict],
        at: datetime,
        also: StoreHook | None,
        faces: FaceMatcher | None = None,
    ) -> None:
        with self.store.session(write=True) as s, s.begin():
            for verdict in verdicts:
                scan_repo.save_scan(s, principal.tenant_id, verdict, at, scan_keys(verdict))
                source_id = verdict.source.get("source_id")
                if isinstance(source_id, str) and uploader_of(verdict.source) is not None:
                    action = verdict.decision.action.value if verdict.decision else "allow"
                    case_repo.link_source_scan(
                        s, principal.tenant_id, source_id, verdict.id, action, at
                    )
            if self.keep_faces is not None and faces is not None:
                self.keep_faces(s, principal.tenant_id, verdicts, faces, at)
            if self.on_stored is not None:
                self.on_stored(s, verdicts)
            if self.on_stored_for is not None:
                self.on_stored_for(s, principal.tenant_id, verdicts)
            if also is not None:
                also(s, verdicts)

    def _save_each(
        self,
        principal: Principal,
        verdicts: Sequence[Verdict],
        at: datetime,
        first: Exception,
        faces: FaceMatcher | None = None,
    ) -> list[Verdict]:
        """Each Verdict in its own transaction; one that fails becomes an error Verdict."""
        out = list(verdicts)
        failures: list[tuple[int, Exception]] = []
        for i, verdict in enumerate(verdicts):
            if verdict.error is None:
                try:
                    self._save(principal, [verdict], at, None, faces)
                except Exception as exc:
                    failures.append((i, exc))
        if len(failures) == sum(1 for v in verdicts if v.error is None):
            raise first  # nothing could be stored: not one item's fault
        for i, error in failures:
            out[i] = failed_verdict(verdicts[i].source, error)
        return out

    def get(self, principal: Principal, scan_id: str) -> Verdict:
        """A stored scan of the caller's tenant; another tenant's is :class:`NotFound`."""
        require(principal, Permission.SCAN_READ)
        with self.store.session() as s, s.begin():
            record = scan_repo.get_scan(s, principal.tenant_id, scan_id)
        if record is None:
            raise NotFound(f"no scan {scan_id!r}")
        return record.verdict

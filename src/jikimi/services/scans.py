"""Scans as a service: the pipeline with the caller's banks, every Verdict stored.

::

    ScanService.scan_many(principal, items)
        └─► LazyScanner.with_matcher(matcher_for(principal), faces_for(principal))
            ─► Scanner.scan_many  (faces_for: the tenant's enrolled persons, optional)
        └─► store.scans.save_scan (one transaction per batch): the Verdict as JSON,
            its PDQ / MD5 / SHA-256 in indexed columns for retroactive matching
    ScanService.get(principal, scan_id)
        └─► the stored Verdict, with matches found later appended

Stored in the database (not in process memory) so that ``GET /v1/scans/{id}``
answers from any worker process and after a restart. Error Verdicts (media the
pipeline could not read) are returned, not stored: they carry no hashes, and
the door reports them as problems, so nobody holds their id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from jikimi.config import Settings
from jikimi.domain import Permission, Principal
from jikimi.errors import NotFound
from jikimi.model import Verdict
from jikimi.pipeline import FaceMatcher, Item, Matcher, Scanner, ScanProgress
from jikimi.services._common import now, require
from jikimi.store import Store
from jikimi.store import scans as scan_repo

StoreHook = Callable[[Session, Sequence[Verdict]], None]
"""Work that must commit together with stored Verdicts (or not at all)."""


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
    ) -> None:
        self.store = store
        self.scanner = scanner
        self._matcher_for = matcher_for
        self._faces_for = faces_for

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
        propagates.
        """
        require(principal, Permission.SCAN)
        # Stamped before the bank lookup: an entry added while the scan runs is
        # newer than the scan, so retroactive matching checks it.
        at = now()
        faces = self._faces_for(principal) if self._faces_for is not None else None
        scanner = self.scanner.with_matcher(self._matcher_for(principal), faces)
        verdicts = scanner.scan_many(items, progress)
        stored = [v for v in verdicts if v.error is None]
        if stored:
            with self.store.session(write=True) as s, s.begin():
                for verdict in stored:
                    scan_repo.save_scan(s, principal.tenant_id, verdict, at)
                if also is not None:
                    also(s, stored)
        return verdicts

    def get(self, principal: Principal, scan_id: str) -> Verdict:
        """A stored scan of the caller's tenant; another tenant's is :class:`NotFound`."""
        require(principal, Permission.SCAN_READ)
        with self.store.session() as s, s.begin():
            record = scan_repo.get_scan(s, principal.tenant_id, scan_id)
        if record is None:
            raise NotFound(f"no scan {scan_id!r}")
        return record.verdict

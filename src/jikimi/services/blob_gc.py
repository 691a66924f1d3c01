"""Orphan blobs: find, and on request delete, blobs that no row names.

Orphans come from crashes between a blob's write and its row's commit, and from
rows deleted while their blob was kept for others (:mod:`jikimi.store.blob_refs`).
The collector is safe next to running replicas:

1. it lists the area's blobs first and the names rows keep second, so a blob
   whose row commits in between is seen as referenced;
2. only blobs older than the grace period are candidates (a blob just written
   whose row is still being committed is young);
3. just before deleting a candidate it reads the blob's time again: storing bytes
   that are already there makes that blob young (``Blobs.put``), so a blob a new
   row is about to name again is kept.

Dry run by default: it reports what it would delete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jikimi.errors import NotFound
from jikimi.services._common import now
from jikimi.store import Blobs, Store
from jikimi.store.blob_refs import REFERENCES, ROOT, referenced


@dataclass
class AreaReport:
    """One area's blobs: how many were listed, named by rows, too young, orphaned."""

    area: str
    listed: int = 0
    referenced: int = 0
    young: int = 0
    orphans: list[str] = field(default_factory=list)
    deleted: int = 0


@dataclass(frozen=True)
class GcReport:
    dry_run: bool
    grace: timedelta
    areas: tuple[AreaReport, ...]

    @property
    def orphans(self) -> int:
        return sum(len(a.orphans) for a in self.areas)

    @property
    def deleted(self) -> int:
        return sum(a.deleted for a in self.areas)


def collect(
    store: Store, grace: timedelta, *, delete: bool = False, at: datetime | None = None
) -> GcReport:
    """Every area's orphans older than ``grace``; deleted only with ``delete``."""
    if grace < timedelta(0):
        raise ValueError("the grace period cannot be negative")
    cutoff = (at or now()) - grace
    areas = []
    for area in REFERENCES:
        blobs = store.blobs if area == ROOT else store.blobs.scoped(area)
        areas.append(_collect_area(store, blobs, area, cutoff, delete))
    return GcReport(dry_run=not delete, grace=grace, areas=tuple(areas))


def _collect_area(
    store: Store, blobs: Blobs, area: str, cutoff: datetime, delete: bool
) -> AreaReport:
    report = AreaReport(area=area or "root")
    listed = list(blobs.list_blobs())  # first: see the module docstring
    with store.session() as s, s.begin():
        names = referenced(s, area)
    report.listed = len(listed)
    for blob in listed:
        if blob.sha256 in names:
            report.referenced += 1
        elif blob.modified_at > cutoff:
            report.young += 1
        else:
            report.orphans.append(blob.sha256)
    if delete:
        for sha256 in report.orphans:
            try:
                if blobs.modified_at(sha256) > cutoff:  # stored again meanwhile
                    continue
            except NotFound:
                continue
            report.deleted += int(blobs.delete(sha256))
    return report

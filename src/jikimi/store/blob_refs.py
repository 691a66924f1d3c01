"""Which rows name a blob, area by area: what ``jikimi blobs gc`` must never delete.

Blobs are written before the row that names them (a crash leaves an orphan, never
a row without its bytes), and rows are deleted without their blobs where other
rows may share them (content addressing: two entries, one photo). So orphans
accumulate, and the collector needs to know every place a blob's name is kept:

- the store's root area: a bank entry's kept evidence (``bank_entries.media_sha256``),
  a held scan's sealed media (``held_media.sha256``), a case item's sealed capture
  (``case_items.capture["blob"]``);
- the ``jobs`` area: an upload waiting to be scanned (``jobs.blob_sha256``).

Code that starts keeping a blob's name anywhere else must add it here, or the
collector will take that blob once it is older than the grace period.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, Session

from jikimi.store.case_models import ItemRow
from jikimi.store.models import EntryRow, JobRow
from jikimi.store.ui_models import HeldMediaRow

ROOT = ""
"""The store's own area (``Store.blobs``), as opposed to a scoped one."""

_BATCH = 5000


def _column(column: InstrumentedAttribute[Any]) -> Callable[[Session], Iterator[str]]:
    def names(s: Session) -> Iterator[str]:
        query = sa.select(column).where(column.is_not(None)).distinct()
        for value in s.execute(query.execution_options(yield_per=_BATCH)).scalars():
            if value:
                yield str(value)

    return names


def _capture_blobs(s: Session) -> Iterator[str]:
    query = sa.select(ItemRow.capture).where(ItemRow.capture.is_not(None))
    for capture in s.execute(query.execution_options(yield_per=_BATCH)).scalars():
        blob = capture.get("blob") if isinstance(capture, dict) else None
        if blob:
            yield str(blob)


REFERENCES: Mapping[str, tuple[Callable[[Session], Iterator[str]], ...]] = {
    ROOT: (
        _column(EntryRow.media_sha256),
        _column(HeldMediaRow.sha256),
        _capture_blobs,
    ),
    "jobs": (_column(JobRow.blob_sha256),),
}
"""Area (``""`` for the root, else the scope name) → what lists the names rows keep."""


def referenced(s: Session, area: str) -> set[str]:
    """Every blob name a row keeps in ``area``."""
    names: set[str] = set()
    for source in REFERENCES[area]:
        names.update(source(s))
    return names

"""Banks and their entries: the service behind ``/v1/banks`` and ``jikimi bank …``.

One :class:`BankService`, written in parts by concern: :mod:`.banks` (bank CRUD and
sharing), :mod:`.entries` (one entry at a time), :mod:`.transfer` (import and
export), :mod:`.hashing` (what an entry is made of, from media or a vPDQ hash
file) and :mod:`._base` (the store, the listener, lookups and checks they share).

Every method takes the caller's :class:`~jikimi.domain.Principal` first and
checks, in this order: the role's permission (:class:`Forbidden`), that the
bank is visible to the caller's tenant (:class:`NotFound` otherwise, so other
tenants' bank names never leak), and for changes, that the caller's tenant
owns it (a bank shared with it is read-only: :class:`Forbidden`).

Each call is one transaction, except imports, which commit every batch of
~20,000 rows (and each ``vpdq`` row, a whole video, alone and in file order):
a crash loses at most the batch in flight, never half of one,
and importing the same file again is safe (rows already there are counted as
duplicates). :meth:`BankService.import_file` also records the import, its progress
written in each batch's transaction, so one cut short shows as interrupted with how
far it got and can be resumed (see :mod:`jikimi.services.imports`). After each
commit the optional :class:`BankListener` (the matching service) hears about the
entries that started or stopped matching, so a withdrawn hash stops matching in
this process at once; other processes follow the change log (see
:mod:`jikimi.store.entries`).
"""

from __future__ import annotations

from jikimi.services.banks._base import (
    DEFAULT_PAGE,
    MAX_LABELS,
    MAX_NOTE_CHARS,
    MAX_PAGE,
    MAX_SOURCE_CHARS,
    BankListener,
)
from jikimi.services.banks.hashing import MAX_VIDEO_FRAMES
from jikimi.services.banks.service import BankService
from jikimi.services.banks.transfer import EXPORT_VIDEOS, IMPORT_BATCH, Progress

__all__ = [
    "DEFAULT_PAGE",
    "EXPORT_VIDEOS",
    "IMPORT_BATCH",
    "MAX_LABELS",
    "MAX_NOTE_CHARS",
    "MAX_PAGE",
    "MAX_SOURCE_CHARS",
    "MAX_VIDEO_FRAMES",
    "BankListener",
    "BankService",
    "Progress",
]

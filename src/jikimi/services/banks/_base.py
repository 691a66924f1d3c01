"""What the parts of the bank service share: the store and listener, lookups, checks.

A bank reference is resolved by :func:`visible` (:class:`NotFound` for a bank the
caller cannot see, so other tenants' bank names never leak) and :func:`owned` (a
bank shared with the caller is read-only: :class:`Forbidden`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.orm import Session

from jikimi.config import Settings
from jikimi.domain import (
    Bank,
    Change,
    EntryMeta,
    Principal,
    limits,
)
from jikimi.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
)
from jikimi.services.banks import rows as importing
from jikimi.store import Store
from jikimi.store import banks as bank_repo
from jikimi.store.banks import BankAccess

log = logging.getLogger("jikimi.services.banks")


DEFAULT_PAGE = 100
MAX_PAGE = 1_000
MAX_LABELS = limits.MAX_LABELS
MAX_SOURCE_CHARS = limits.MAX_SOURCE_CHARS
MAX_NOTE_CHARS = limits.MAX_NOTE_CHARS


class BankListener(Protocol):
    """Told about committed changes (the matching service implements this).

    Called after the transaction commits, in the caller's thread; it must not
    raise (an exception is logged and swallowed: the change is already durable,
    and the change log lets the listener catch up).
    """

    def entries_changed(self, changes: Sequence[Change]) -> None:
        """Entries started (``add``) or stopped (``remove``) matching."""

    def banks_changed(self, bank_ids: Sequence[str]) -> None:
        """A bank was created, updated (kind, threshold, enabled, ...), shared or deleted."""


class ServiceBase:
    """What every part of :class:`~jikimi.services.banks.BankService` shares: the store,
    the settings, and the listener told about committed changes."""

    def __init__(
        self,
        store: Store,
        *,
        settings: Settings | None = None,
        listener: BankListener | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.listener = listener

    # --- notifications --------------------------------------------------------

    def _entries_changed(self, changes: Sequence[Change]) -> None:
        if self.listener is not None and changes:
            try:
                self.listener.entries_changed(changes)
            except Exception:
                log.exception("bank listener failed on %d entry changes", len(changes))

    def _banks_changed(self, bank_ids: Sequence[str]) -> None:
        if self.listener is not None:
            try:
                self.listener.banks_changed(bank_ids)
            except Exception:
                log.exception("bank listener failed on bank change %s", bank_ids)


# --- lookups and checks -------------------------------------------------------------


def visible(s: Session, principal: Principal, ref: str) -> BankAccess:
    access = bank_repo.resolve_bank(s, principal.tenant_id, ref)
    if access is None:
        raise NotFound(f"no bank {ref!r}")
    return access


def owned(s: Session, principal: Principal, ref: str) -> Bank:
    access = visible(s, principal, ref)
    if not access.owned:
        raise Forbidden(f"bank {access.bank.name} is shared with you read-only")
    return access.bank


def check_name(name: str) -> None:
    limits.check("name", name)


def check_threshold(threshold: int) -> None:
    limits.check("pdq_threshold", threshold)


def check_shares(query_pct: int | None, index_pct: int | None) -> None:
    for name, pct in (("vpdq_query_pct", query_pct), ("vpdq_index_pct", index_pct)):
        if pct is not None:
            limits.check(name, pct)


def check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """The labels deduplicated, in their order."""
    return limits.check("labels", tuple(labels))


def check_meta(meta: EntryMeta) -> EntryMeta:
    if meta.source is not None:
        limits.check("source", meta.source)
    if meta.note is not None:
        limits.check("note", meta.note)
    metadata = importing.check_metadata(meta.metadata)
    if isinstance(metadata, str):
        raise InvalidInput(metadata)
    return EntryMeta(source=meta.source, note=meta.note, metadata=metadata)

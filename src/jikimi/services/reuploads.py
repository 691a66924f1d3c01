"""Re-uploads: a scan or a match that hits a removed item's banked hashes reopens it.

When a re-check confirms a removal, the item's hashes go into its case's takedown
bank with ``{"case": …, "item": …}`` as the entries' metadata
(:mod:`jikimi.services.rechecks`). This module closes the loop: whenever a scan
is stored (:meth:`ReuploadLinker.on_stored`, run by the scan service inside the
transaction that stores it) or ``/v1/match`` finds entries (:meth:`link_matches`),
the items behind matched entries become ``reappeared`` and a new draft notice to
the item's host lists them, drafted by the system (actor ``system:reuploads``) for
a person to approve like any other.

Only the bank owner's items move: an entry's metadata is read with its bank's
tenant, and items are looked up in that tenant only, so a scan by a tenant that
merely shares the bank never touches (or learns about) another tenant's case.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jikimi.cases.lifecycle import NoticeState
from jikimi.domain import Match, Verdict
from jikimi.errors import JikimiError
from jikimi.services._common import now
from jikimi.services.notices import NoticeService
from jikimi.services.rechecks import link_reuploads
from jikimi.store import Store
from jikimi.store import casework as repo
from jikimi.store.models import BankRow, EntryRow

log = logging.getLogger(__name__)

ACTOR = "system:reuploads"
OPEN_NOTICES = (NoticeState.DRAFT, NoticeState.APPROVED)


class ReuploadLinker:
    """Marks re-uploaded items ``reappeared`` and drafts their new notices."""

    def __init__(self, store: Store, notices: NoticeService) -> None:
        self.store = store
        self.notices = notices

    def on_stored(self, s: Session, verdicts: Sequence[Verdict]) -> None:
        """A :data:`~jikimi.services.scans.StoreHook`: link the stored scans' matches."""
        entries = {m.entry for v in verdicts for m in (v.matches or ())}
        if entries:
            self.link(s, entries, now())

    def link_matches(self, found: Iterable[Sequence[Match]]) -> list[str]:
        """After ``/v1/match``: link what its matches hit (own transaction); moved ids."""
        entries = {m.entry for matches in found for m in matches}
        if not entries:
            return []
        with self.store.session(write=True) as s, s.begin():
            return self.link(s, entries, now())

    def link(self, s: Session, entry_ids: Collection[str], at: datetime) -> list[str]:
        """In the caller's transaction: the ids of the items that moved to ``reappeared``."""
        rows = s.execute(
            sa.select(BankRow.tenant_id, EntryRow.meta)
            .join(BankRow, BankRow.id == EntryRow.bank_id)
            .where(EntryRow.id.in_(sorted(entry_ids)))
        ).all()
        by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for tenant, meta in rows:
            if isinstance(meta, dict) and isinstance(meta.get("item"), str):
                by_tenant[tenant].append(meta)
        moved: list[str] = []
        for tenant, metas in by_tenant.items():
            items = link_reuploads(s, tenant, metas, at)
            moved.extend(items)
            for item_id in items:
                self._draft(s, tenant, item_id, at)
        return moved

    def _draft(self, s: Session, tenant: str, item_id: str, at: datetime) -> None:
        item = repo.get_item(s, tenant, item_id)
        if item is None or item.host_id is None:
            return  # no host known (a hash a victim sent): a caseworker picks one
        case = repo.get_case(s, tenant, item.case_id)
        host = repo.get_host(s, tenant, item.host_id)
        if case is None or host is None:
            return
        for notice in repo.list_notices(s, tenant, case.id):
            if (
                notice.host_id == host.id
                and notice.state in OPEN_NOTICES
                and item.id in notice.item_ids
            ):
                return  # a notice that lists it already waits for approval
        try:
            with s.begin_nested():
                self.notices.draft_in(s, tenant, ACTOR, case, host, None, at)
        except JikimiError as exc:  # e.g. the host lost its contact channel
            log.warning("re-upload of %s: no notice drafted: %s", item.id, exc.message)

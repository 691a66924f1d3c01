"""Automatic retries of unreachable URLs: an item that could not be captured is tried again.

Adding an item whose URL cannot be fetched (DNS, timeout, refused, an HTTP error)
keeps it as ``unreachable`` with the reason and queues a retry in the outbox
(kind ``recapture``, :func:`~jikimi.services.cases.queue_recapture`): 15 min, 1 h,
6 h, 1, 2, 3, 5 and 7 days after it was added. :class:`Recapturer` claims due
retries (leased, like every outbox row) and captures again as the system (actor
``system:recapture``): captured → ``pending`` with its evidence; still unreachable
→ the new reason and the next retry, until the schedule ends. A caseworker can
also retry at once (``POST /v1/items/{id}/recapture``, ``jikimi case recapture``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from jikimi.cases.lifecycle import ItemStatus
from jikimi.domain import Principal, Role
from jikimi.errors import JikimiError
from jikimi.services._common import runner_id
from jikimi.services.cases import RECAPTURE, CaseService, queue_recapture
from jikimi.store import Store, outbox
from jikimi.store import casework as repo

ACTOR = "system:recapture"


class Recapturer:
    """Runs due retries of unreachable items."""

    def __init__(
        self,
        store: Store,
        cases: CaseService,
        *,
        lease: timedelta = timedelta(minutes=2),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.cases = cases
        self.lease = lease
        self.clock = clock
        self.owner = runner_id()

    def run_once(self) -> bool:
        """Run one due retry; ``False`` when none is due."""
        at = self.clock()
        with self.store.session(write=True) as s, s.begin():
            row = outbox.claim(s, self.owner, at, self.lease, kinds=(RECAPTURE,))
        if row is None:
            return False
        tenant, item_id, n = row.tenant_id, str(row.payload["item"]), int(row.payload["n"])
        with self.store.session() as s:
            item = repo.get_item(s, tenant, item_id)
        if item is not None and item.status is ItemStatus.UNREACHABLE and self.cases.fetcher:
            system = Principal(tenant_id=tenant, key_id=ACTOR, role=Role.ADMIN)
            try:
                item = self.cases.recapture(system, item_id)
            except JikimiError:  # it moved meanwhile (withdrawn, captured by hand)
                item = None
        done = self.clock()
        with self.store.session(write=True) as s, s.begin():
            if outbox.complete(s, row.id, self.owner, done) and (
                item is not None and item.status is ItemStatus.UNREACHABLE
            ):
                queue_recapture(s, item, n + 1, done)
        return True

    def run_until_idle(self, limit: int = 10_000) -> int:
        n = 0
        while n < limit and self.run_once():
            n += 1
        return n

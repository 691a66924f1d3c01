"""Re-checks: is a notified item really gone? And is removed content back?

A sent notice queues each item's first re-check in the outbox (kind ``recheck``);
:class:`Rechecker` claims due ones (any process, leased like every outbox row) and
fetches the URL again through the safe fetcher::

    404 / 410, a removal page (a host's marker text), or bytes that no longer match
    the item's hashes                                  → removed (time to removal kept)
    still there                                        → next re-check on the schedule
      … and its deadline has passed (first time)       → escalated (see below)
    could not fetch (DNS, timeout)                     → unknown; next re-check

Schedule after the notice: 1 h, 6 h, 24 h, then daily until 30 days. A removed
item's hashes go into the case's takedown bank (when it has one), with the case and
item in the entry's metadata: a later scan or ``/v1/match`` that hits one of them
is a re-upload (:func:`link_reuploads`), and the item becomes ``reappeared`` with a
new draft notice for a person to approve.

Escalation: the first re-check that finds an item still up at or after its
deadline marks it ``escalated_at`` (audited, action ``escalate``) and hands it to
``escalate`` (the casework wiring drafts a follow-up notice to the host that
names the missed deadline, for a person to approve), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from jikimi.cases.lifecycle import ITEM_MOVES, ItemStatus
from jikimi.cases.types import Host, Item
from jikimi.domain import DEFAULT_PDQ_THRESHOLD, EntryCreate, Principal, Role, SignalKind
from jikimi.errors import JikimiError
from jikimi.fetching import Capture, SafeFetcher
from jikimi.media import MediaLimits, load
from jikimi.pipeline.hashing import byte_signals, still_signals
from jikimi.services._common import runner_id
from jikimi.signals import hamming_hex
from jikimi.store import Store, outbox
from jikimi.store import audit as audit_repo
from jikimi.store import casework as repo
from jikimi.store.outbox import OutboxItem

RECHECK = "recheck"
SCHEDULE_H: tuple[float, ...] = (1, 6, 24, *(24.0 * d for d in range(2, 31)))
"""Hours after the notice at which each re-check is due (the first is queued on sending)."""
ACTOR = "system:rechecker"
Escalate = Callable[[Session, str, str, Sequence[Item], datetime], object]
"""``(session, tenant, notice id, items, at)``: what to do about items still up after the
deadline of that notice (in the re-check's transaction)."""
AddToBank = Callable[[Principal, str, Sequence[EntryCreate]], object]
"""``BankService.add_entries``' shape: how removed items' hashes reach their bank
(hashes it already holds are skipped)."""
BATCH = 32
"""Re-checks claimed and written together."""
FETCH_THREADS = 4


def removal_reason(
    item: Item, capture: Capture, markers: Sequence[str], limits: MediaLimits
) -> str | None:
    """Why the capture shows the item gone, or ``None`` when it is still there."""
    if capture.status in (404, 410, 451):
        return f"HTTP {capture.status}"
    if capture.status >= 400:
        return None  # 5xx, 403...: says nothing either way
    text = capture.content[:200_000].decode("utf-8", "replace").lower()
    for marker in markers:
        if marker and marker.lower() in text:
            return f"removal page ({marker!r})"
    wanted = {s["type"]: s["value"] for s in item.signals}
    digests = {s.type.value: s.value for s in byte_signals(capture.content)}
    if any(wanted.get(k) == v for k, v in digests.items()):
        return None
    pdq = wanted.get("pdq")
    if pdq is not None:
        try:
            picture = load(capture.content, limits)
        except JikimiError:
            return "the address no longer serves the image"
        [now_pdq] = still_signals(picture, capture.content, (SignalKind.PDQ,))
        if hamming_hex(pdq, now_pdq.value) <= DEFAULT_PDQ_THRESHOLD:
            return None
        return "the address serves other content"
    if "md5" in wanted or "sha256" in wanted:
        return "the address serves other content"
    return None


class Rechecker:
    """Runs due re-checks; ``add_to_bank`` puts a removed item's hashes in a bank."""

    def __init__(
        self,
        store: Store,
        fetcher: SafeFetcher,
        limits: MediaLimits,
        *,
        add_to_bank: AddToBank | None = None,
        escalate: Escalate | None = None,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=2),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.limits = limits
        self.add_to_bank = add_to_bank
        self.escalate = escalate
        self.owner = owner or runner_id()
        self.lease = lease
        self.clock = clock

    def run_once(self) -> bool:
        """Run one due re-check; ``False`` when none is due."""
        return self.run_batch(1) > 0

    def run_batch(self, limit: int = BATCH) -> int:
        """Run up to ``limit`` due re-checks; how many outbox rows were handled.

        The rows are claimed in one transaction, their URLs fetched side by side
        (``FETCH_THREADS``: the time of a re-check is the host's, not ours), and the
        results written in one transaction, each with its audit row and next
        re-check. A removed item's hashes then go to its bank, one call per bank.
        """
        at = self.clock()
        with self.store.session() as s:
            if not outbox.anything_due(s, at, (RECHECK,)):
                return 0  # idle: a read, no write lock
        with self.store.session(write=True) as s, s.begin():
            rows = outbox.claim_many(s, self.owner, at, self.lease, kinds=(RECHECK,), limit=limit)
        if not rows:
            return 0
        items: dict[tuple[str, str], Item] = {}
        hosts: dict[tuple[str, str], Host | None] = {}
        with self.store.session() as s:
            for tenant in {r.tenant_id for r in rows}:
                wanted = [str(r.payload["item"]) for r in rows if r.tenant_id == tenant]
                for item_id, item in repo.get_items(s, tenant, wanted).items():
                    items[tenant, item_id] = item
                    if item.host_id is not None and (tenant, item.host_id) not in hosts:
                        hosts[tenant, item.host_id] = repo.get_host(s, tenant, item.host_id)
        jobs: list[tuple[OutboxItem, Item | None, Host | None]] = []
        for row in rows:
            found = items.get((row.tenant_id, str(row.payload["item"])))
            if found is None or found.url is None or found.status is not ItemStatus.NOTIFIED:
                jobs.append((row, None, None))
                continue
            host = None if found.host_id is None else hosts[row.tenant_id, found.host_id]
            jobs.append((row, found, host))
        fetching = [(live, host) for _, live, host in jobs if live is not None]
        if len(fetching) > 1:
            with ThreadPoolExecutor(min(FETCH_THREADS, len(fetching))) as pool:
                outcomes = iter(list(pool.map(lambda job: self._check(*job), fetching)))
        else:
            outcomes = iter([self._check(*job) for job in fetching])
        done = self.clock()
        removed: list[Item] = []
        late: dict[tuple[str, str], list[Item]] = {}
        escalated: set[str] = set()
        with self.store.session(write=True) as s, s.begin():
            held = outbox.complete_many(s, [row.id for row, _, _ in jobs], self.owner, done)
            writes = _Writes()
            for row, live, host in jobs:
                outcome = next(outcomes) if live is not None else None
                if row.id not in held or live is None or outcome is None:
                    continue  # the lease was lost (another runner does it), or nothing to check
                capture, error, reason = outcome
                if self._record(writes, s, row, live, capture is not None, error, reason, done):
                    removed.append(live)
                elif live.id not in escalated and self._escalates(writes, s, row, live, host, done):
                    escalated.add(live.id)
                    notice = str(row.payload.get("notice"))
                    late.setdefault((row.tenant_id, notice), []).append(live)
            repo.set_items(s, done, writes.checked)
            audit_repo.append_many(s, writes.changes)
            outbox.enqueue_many(s, writes.next_checks, done)
            if self.escalate is not None:
                for (tenant, notice), overdue in late.items():
                    self.escalate(s, tenant, notice, overdue, done)
        self._bank(removed)
        return len(rows)

    def _check(
        self, item: Item, host: Host | None
    ) -> tuple[Capture | None, str | None, str | None]:
        """Fetch the item's URL: (the capture, the fetch error, why it is gone)."""
        assert item.url is not None
        try:
            capture = self.fetcher.fetch(item.url)
        except JikimiError as exc:
            return None, f"{exc.code}: {exc.message}", None
        markers = host.removal_markers if host else ()
        return capture, None, removal_reason(item, capture, markers, self.limits)

    def _record(
        self,
        writes: _Writes,
        s: Session,
        row: OutboxItem,
        item: Item,
        fetched: bool,
        error: str | None,
        reason: str | None,
        done: datetime,
    ) -> bool:
        """Write one re-check's result; ``True`` when it found the item removed.

        A removed item's row is updated now; a still-there item's count, its audit row
        and next re-check go to ``writes``, written with the batch's others in one
        statement each.
        """
        tenant, n = row.tenant_id, int(row.payload["n"])
        checked = {"check_count": item.check_count + 1, "last_checked_at": done}
        if reason is not None:
            repo.set_item(
                s,
                tenant,
                item.id,
                done,
                status=ItemStatus.REMOVED.value,
                removed_at=done,
                reason=reason,
                **checked,
            )
            hours = None
            if item.notified_at is not None:
                hours = round((done - item.notified_at).total_seconds() / 3600, 3)
            writes.audit(
                tenant,
                item.id,
                "status",
                {"to": "removed", "why": reason, "hours_to_removal": hours},
                done,
            )
            return True
        writes.checked.append((tenant, item.id, checked))
        writes.audit(
            tenant, item.id, "recheck", {"n": n, "still_there": fetched, "error": error}, done
        )
        if n < len(SCHEDULE_H) and item.notified_at is not None:
            writes.next_checks.append(
                outbox.Consequence(
                    tenant_id=tenant,
                    kind=RECHECK,
                    key=f"recheck:{item.id}:{row.payload.get('notice')}:{n + 1}",
                    payload={**row.payload, "n": n + 1},
                    not_before=item.notified_at + timedelta(hours=SCHEDULE_H[n]),
                )
            )
        return False

    def _escalates(
        self,
        writes: _Writes,
        s: Session,
        row: OutboxItem,
        item: Item,
        host: Host | None,
        done: datetime,
    ) -> bool:
        """Still up at or after its deadline and not escalated yet: mark it (audited,
        naming the host's regulator, whom the follow-up copies)."""
        if item.deadline_at is None or item.escalated_at is not None or done < item.deadline_at:
            return False
        repo.set_item(s, row.tenant_id, item.id, done, escalated_at=done)
        writes.audit(
            row.tenant_id,
            item.id,
            "escalate",
            {
                "deadline_at": item.deadline_at.isoformat(),
                "notice": row.payload.get("notice"),
                "hours_late": round((done - item.deadline_at).total_seconds() / 3600, 2),
                "regulator": None
                if host is None or host.regulator is None
                else str(host.regulator),
            },
            done,
        )
        return True

    def run_until_idle(self, limit: int = 100_000) -> int:
        n = 0
        while n < limit:
            want = min(BATCH, limit - n)
            ran = self.run_batch(want)
            n += ran
            if ran < want:
                break  # a short batch: nothing more was due
        return n

    def _bank(self, removed: Sequence[Item]) -> None:
        """Put removed items' hashes in their cases' takedown banks (re-upload detection)."""
        if self.add_to_bank is None or not removed:
            return
        by_bank: dict[tuple[str, str], list[EntryCreate]] = {}
        with self.store.session() as s:
            for item in removed:
                case = repo.get_case(s, item.tenant_id, item.case_id)
                if case is None or case.takedown_bank_id is None:
                    continue
                by_bank.setdefault((item.tenant_id, case.takedown_bank_id), []).extend(
                    EntryCreate(
                        signal=SignalKind(signal["type"]),
                        value=signal["value"],
                        note=f"case {case.number}, item {item.id}",
                        metadata={"case": case.id, "item": item.id},
                    )
                    for signal in item.signals
                )
        for (tenant, bank), entries in by_bank.items():
            system = Principal(tenant_id=tenant, key_id=ACTOR, role=Role.ADMIN)
            self.add_to_bank(system, bank, _unique(entries))


@dataclass
class _Writes:
    """What a batch of re-checks writes together: audit rows, next re-checks, counts."""

    changes: list[audit_repo.Change] = field(default_factory=list)
    checked: list[tuple[str, str, Mapping[str, Any]]] = field(default_factory=list)
    next_checks: list[outbox.Consequence] = field(default_factory=list)

    def audit(
        self, tenant: str, item_id: str, action: str, data: Mapping[str, Any], at: datetime
    ) -> None:
        self.changes.append(audit_repo.Change(tenant, ACTOR, "item", item_id, action, data, at))


def _unique(entries: Sequence[EntryCreate]) -> list[EntryCreate]:
    """One entry per hash (one image captured as two items is banked once)."""
    seen: set[tuple[SignalKind, str]] = set()
    out = []
    for entry in entries:
        if (entry.signal, entry.value) not in seen:
            seen.add((entry.signal, entry.value))
            out.append(entry)
    return out


def _audit(
    s: Session, tenant: str, item_id: str, action: str, data: Mapping[str, Any], at: datetime
) -> None:
    audit_repo.append(
        s,
        tenant_id=tenant,
        actor=ACTOR,
        entity="item",
        entity_id=item_id,
        action=action,
        data=data,
        at=at,
    )


def link_reuploads(
    s: Session, tenant_id: str, entries: Iterable[Mapping[str, Any]], at: datetime
) -> list[str]:
    """Mark the items behind matched takedown-bank entries ``reappeared``; their ids.

    ``entries`` are the matched entries' metadata (``{"case": …, "item": …}``);
    called in the transaction that stores the scan whose matches they are.
    """
    moved: list[str] = []
    for meta in entries:
        item_id = meta.get("item")
        if not isinstance(item_id, str):
            continue
        item = repo.get_item(s, tenant_id, item_id)
        if item is None or ItemStatus.REAPPEARED not in ITEM_MOVES[item.status]:
            continue
        if item.status is ItemStatus.NOTIFIED:
            continue  # still up as far as we know: a copy is expected, not a re-upload
        repo.update_item(
            s, tenant_id, item_id, at, status=ItemStatus.REAPPEARED.value, reappeared_at=at
        )
        _audit(s, tenant_id, item_id, "status", {"to": "reappeared"}, at)
        moved.append(item_id)
    return moved

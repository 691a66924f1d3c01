"""What the takedown loop achieved: reports, overdue items, a victim's view, source risk, audit.

* :meth:`CaseReports.report`: per host, for items first notified in a period, the
  figures a regulator publishes ("148 of 148 removed, slowest 36 h"): requested,
  removed, still up, reappeared, median and slowest time to removal, overdue
  (the deadline passed before the removal, or passed and it is still up).
* :meth:`CaseReports.overdue`: the items whose deadline has passed and that are
  not confirmed gone, oldest deadline first.
* :meth:`CaseReports.victim_status`: by case number + PIN, what was found, sent and
  removed for that case only; no URLs, hashes or evidence (a victim's device may be
  seen by others), the same answer for an unknown number and a wrong PIN, and a
  :class:`AttemptLimiter` in front of it.
* :meth:`CaseReports.source_risk`: how much an account or channel is to be watched.
* :meth:`CaseReports.verify_audit`: the whole hash chain, optionally against a
  checkpoint (a head saved earlier, e.g. printed by ``jikimi audit verify``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import statistics
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from jikimi.audit.chain import ChainReport, Checkpoint, verify
from jikimi.cases.lifecycle import ItemStatus, NoticeState
from jikimi.cases.types import Item, Source, SourceRisk
from jikimi.domain import Permission, Principal
from jikimi.errors import NotFound, TooManyAttempts
from jikimi.services._common import require
from jikimi.services.cases import CaseService
from jikimi.store import Store
from jikimi.store import audit as audit_repo
from jikimi.store import casework as repo
from jikimi.store import shared as shared_repo

STILL_UP = (ItemStatus.NOTIFIED, ItemStatus.REAPPEARED)


@dataclass(frozen=True)
class HostFigures:
    host: str
    host_name: str
    requested: int
    removed: int
    still_up: int
    reappeared: int
    overdue: int
    median_hours_to_removal: float | None
    slowest_hours_to_removal: float | None


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    hosts: tuple[HostFigures, ...]
    total: HostFigures

    def as_json(self) -> dict[str, object]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "hosts": [asdict(h) for h in self.hosts],
            "total": asdict(self.total),
        }

    def as_csv(self) -> str:
        out = io.StringIO()
        fields = list(HostFigures.__dataclass_fields__)
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in (*self.hosts, self.total):
            writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
        return out.getvalue()


@dataclass(frozen=True)
class VictimItem:
    status: ItemStatus
    host: str | None
    found_at: datetime
    notified_at: datetime | None
    removed_at: datetime | None


@dataclass(frozen=True)
class VictimView:
    number: str
    status: str
    items: tuple[VictimItem, ...]
    notices_sent: int
    removed: int


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)


def was_overdue(item: Item, at: datetime) -> bool:
    """Its deadline passed before it was removed (or passed and it is still up)."""
    if item.deadline_at is None:
        return False
    if item.removed_at is not None:  # a re-upload is a new copy: this URL went when it went
        return item.removed_at > item.deadline_at
    return item.status in STILL_UP and at > item.deadline_at


def figures(host: str, name: str, items: Sequence[Item], at: datetime) -> HostFigures:
    removal = sorted(
        _hours(i.removed_at - i.notified_at)
        for i in items
        if i.removed_at is not None and i.notified_at is not None
    )
    return HostFigures(
        host=host,
        host_name=name,
        requested=len(items),
        removed=sum(1 for i in items if i.removed_at is not None),
        still_up=sum(1 for i in items if i.status in STILL_UP and i.removed_at is None),
        reappeared=sum(1 for i in items if i.reappeared_at is not None),
        overdue=sum(1 for i in items if was_overdue(i, at)),
        median_hours_to_removal=round(statistics.median(removal), 2) if removal else None,
        slowest_hours_to_removal=removal[-1] if removal else None,
    )


class AttemptLimiter:
    """At most ``limit`` failed attempts per key (a case number, a client address) per window.

    In process memory (one process, tests); ``jikimi serve`` uses
    :class:`SharedAttemptLimiter`, counted in the database, so that API replicas
    share one count.
    """

    def __init__(
        self,
        limit: int = 5,
        window_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque[float]:
        q = self._failures[key]
        cutoff = self._clock() - self.window_s
        while q and q[0] < cutoff:
            q.popleft()
        return q

    def check(self, *keys: str) -> None:
        with self._lock:
            if any(len(self._recent(k)) >= self.limit for k in keys):
                raise TooManyAttempts(
                    "too many attempts: wait a few minutes, or ask your support centre"
                )

    def failed(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._recent(key).append(self._clock())
            if len(self._failures) > 100_000:  # forget the oldest keys, not the counting
                for old in list(self._failures)[:50_000]:
                    del self._failures[old]


class SharedAttemptLimiter:
    """:class:`AttemptLimiter`'s rule, counted in the database so every replica shares it.

    Behind several API processes (or machines) an in-memory count would multiply
    the allowance by their number; here a failure recorded by one process counts
    in all. Keys are stored as SHA-256 hashes (a client address is personal data),
    and failures older than the window are dropped now and then.
    """

    def __init__(
        self,
        store: Store,
        limit: int = 5,
        window_s: float = 900.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.limit = limit
        self.window = timedelta(seconds=window_s)
        self._clock = clock
        self._failed_since_sweep = 0

    @staticmethod
    def _hashed(keys: Sequence[str]) -> list[str]:
        return [hashlib.sha256(b"jikimi.attempts/1|" + k.encode()).hexdigest() for k in keys]

    def check(self, *keys: str) -> None:
        since = self._clock() - self.window
        with self.store.session() as s, s.begin():
            worst = shared_repo.failures_since(s, self._hashed(keys), since)
        if worst >= self.limit:
            raise TooManyAttempts(
                "too many attempts: wait a few minutes, or ask your support centre"
            )

    def failed(self, *keys: str) -> None:
        at = self._clock()
        with self.store.session(write=True) as s, s.begin():
            shared_repo.add_failures(s, self._hashed(keys), at)
            self._failed_since_sweep += 1
            if self._failed_since_sweep >= 100:
                shared_repo.forget_failures(s, at - self.window)
                self._failed_since_sweep = 0


class CaseReports:
    def __init__(
        self,
        store: Store,
        cases: CaseService,
        limiter: AttemptLimiter | SharedAttemptLimiter | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.cases = cases
        self.limiter = limiter or AttemptLimiter()
        self.clock = clock

    def report(self, principal: Principal, start: datetime, end: datetime) -> Report:
        """Per host: the items first notified in ``[start, end)`` and what became of them."""
        require(principal, Permission.CASE_READ)
        at = self.clock()
        with self.store.session() as s:
            hosts = {h.id: h for h in repo.list_hosts(s, principal.tenant_id)}
            items = [
                i
                for i in repo.list_items(s, principal.tenant_id)
                if i.notified_at is not None and start <= i.notified_at < end
            ]
        by_host: dict[str, list[Item]] = defaultdict(list)
        for item in items:
            by_host[item.host_id or ""].append(item)
        rows = tuple(
            figures(
                hosts[h].slug if h in hosts else "",
                hosts[h].name if h in hosts else "(no host)",
                by_host[h],
                at,
            )
            for h in sorted(by_host, key=lambda h: hosts[h].slug if h in hosts else "")
        )
        return Report(start, end, rows, figures("*", "all hosts", items, at))

    def overdue(self, principal: Principal) -> list[Item]:
        require(principal, Permission.CASE_READ)
        at = self.clock()
        with self.store.session() as s:
            items = repo.list_items(s, principal.tenant_id, statuses=STILL_UP)
        late = [
            i
            for i in items
            if i.removed_at is None and i.deadline_at is not None and at > i.deadline_at
        ]
        return sorted(late, key=lambda i: (i.deadline_at or at, i.id))

    def victim_status(self, number: str, pin: str, client: str) -> VictimView:
        keys = (f"number:{number.strip().upper()}", f"client:{client}")
        self.limiter.check(*keys)
        case = self.cases.check_pin(number, pin)
        if case is None:
            self.limiter.failed(*keys)
            raise NotFound("no case with this number and PIN")
        with self.store.session() as s:
            items = repo.list_items(s, case.tenant_id, case_id=case.id)
            hosts = {h.id: h.name for h in repo.list_hosts(s, case.tenant_id)}
            notices = repo.list_notices(s, case.tenant_id, case.id)
        sent = (NoticeState.SENT, NoticeState.ACKNOWLEDGED)
        return VictimView(
            number=case.number,
            status=case.status.value,
            items=tuple(
                VictimItem(
                    status=i.status,
                    host=hosts.get(i.host_id or ""),
                    found_at=i.created_at,
                    notified_at=i.notified_at,
                    removed_at=i.removed_at,
                )
                for i in items
                if i.status is not ItemStatus.WITHDRAWN
            ),
            notices_sent=sum(1 for n in notices if n.state in sent),
            removed=sum(1 for i in items if i.status is ItemStatus.REMOVED),
        )

    def source_risk(self, principal: Principal, source_id: str) -> SourceRisk:
        """A source's risk with its reasons. Platforms read it too: the uploader ids they
        scan with (``POST /v1/scan?uploader=``) are sources of their tenant."""
        require(principal, Permission.SOURCE_READ)
        with self.store.session() as s:
            source = repo.get_source(s, principal.tenant_id, source_id)
            if source is None:
                raise NotFound(f"no source {source_id!r}")
            items = repo.list_items(s, principal.tenant_id, source_id=source_id)
            scans = repo.source_scan_actions(s, principal.tenant_id, source_id)
        return risk_of(source, items, self.clock(), scans)

    def verify_audit(
        self, principal: Principal, checkpoint: Checkpoint | None = None
    ) -> ChainReport:
        """The whole chain (every tenant's rows link into one chain: an admin's check)."""
        require(principal, Permission.AUDIT_READ)
        with self.store.session() as s:
            return verify(audit_repo.iter_all(s), checkpoint)


def risk_of(
    source: Source,
    items: Sequence[Item],
    at: datetime,
    scans: Mapping[str, int] | None = None,
) -> SourceRisk:
    """A score in [0, 1] with its reasons: confirmed items weigh most, then re-uploads,
    uploads a platform's scan held, and how fast the source posts.

    ``scans``: the source's scans (as a platform's uploader) counted by the action
    the policy took. A removed upload (it matched known abusive content) is
    confirmed like an item sent to a host; a held one only raises the score.
    """
    scans = scans or {}
    removed_scans = scans.get("remove", 0)
    held_scans = scans.get("hold", 0)
    confirmed = removed_scans + sum(
        1 for i in items if i.notified_at is not None and i.status is not ItemStatus.WITHDRAWN
    )
    reappeared = sum(1 for i in items if i.reappeared_at is not None)
    recent = sum(1 for i in items if at - i.created_at <= timedelta(days=7))
    reasons: list[str] = []
    score = 0.0
    if confirmed:
        score += min(0.6, 0.2 * confirmed)
        sent = confirmed - removed_scans
        parts = [f"{sent} sent to a host"] if sent else []
        parts += [f"{removed_scans} upload(s) removed on a bank match"] if removed_scans else []
        reasons.append(f"{confirmed} confirmed item(s): {', '.join(parts)}")
    if held_scans:
        score += min(0.3, 0.1 * held_scans)
        reasons.append(f"{held_scans} upload(s) held for review by the policy")
    if reappeared:
        score += min(0.3, 0.15 * reappeared)
        reasons.append(f"{reappeared} re-upload(s) after a removal")
    if recent >= 3:
        score += 0.1
        reasons.append(f"{recent} items in the last 7 days")
    if not reasons:
        reasons.append("nothing confirmed yet")
    return SourceRisk(
        source=source,
        items=len(items),
        confirmed=confirmed,
        reappeared=reappeared,
        items_last_7d=recent,
        score=round(min(score, 1.0), 2),
        reasons=tuple(reasons),
        scans=sum(scans.values()),
        scans_flagged=removed_scans + held_scans,
    )

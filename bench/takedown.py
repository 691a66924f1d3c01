"""Benchmark the takedown loop against simulated hosts, on a controllable clock.

``python -m bench.takedown [--quick] [--items N] [--days N] [--processes N]``

A local HTTP server on 127.0.0.1 plays three hosts (one takes notices by e-mail,
one by web form, one by e-mail and shows a removal page). Each serves one
distinct synthetic image per item URL and takes it down after a random delay on
the simulated clock: some within the deadline, some after it, some never; the
removal is a 404, a 410, the host's removal page or other content at the same
URL. Some removed items are re-posted later under a new URL, where a platform's
hash lookup (``/v1/match``'s service) sees them.

jikimi runs as in production on a fresh SQLite database, in ``--processes``
processes (2: one per core, as a 2-core server runs the API's workers and
``jikimi worker``), which share the cases between them: items captured by URL
(fetched, sealed, hashed and scanned with the nudity model, one inference thread
per process), one notice per case and host drafted, approved by a second key,
sent through the outbox to a real SMTP server on 127.0.0.1 (or marked sent for
the form host). Then the same processes deliver and re-check on the simulated
clock, sharing the outbox by its leases as several workers do; this process
moves the clock to the next moment something is due (no more often than a
worker polling every ``POLL_S`` seconds looks, and at least every six hours) and
plays the platform that sees re-posts.

Compared in the same run with the peer a caseworker has without jikimi: one
manual check of each URL at its deadline (``naive_*``). ``detect_lag_h_p50`` is
hours from the true removal to jikimi seeing it (the naive one waits for the
deadline). ``draft_ms_p50``: capture + scan + this item's share of drafting its
notice, wall clock (a case's five URLs are added together, as a caseworker pasting
them does). ``setup_cpu_s``/``loop_cpu_s``: CPU seconds of jikimi's processes
for the same phases (the hosts, their web and mail servers, run in a process of
their own, as a platform does), with the machine's ``load_avg_1m``: on a shared
machine the wall clock says more about the neighbours than about jikimi.
``deliver_s``: the first delivery of the notices; ``clock_steps``: the loop's moves.
``duplicate_sends`` counts repeated Message-IDs in the hosts' mail box and notices
delivered twice (must be 0). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import math
import multiprocessing
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from PIL import Image

from bench.common import emit, parse_args
from jikimi.audit.chain import verify
from jikimi.cases.lifecycle import ItemStatus
from jikimi.cases.types import Contact, ContactKind
from jikimi.config import Settings
from jikimi.detectors.grade.onnx import threads_per_process
from jikimi.domain import BankCreate, BankKind, Principal, Role, Signal, SignalKind
from jikimi.services import BankService, KeyService, TenantService
from jikimi.services.casereports import was_overdue
from jikimi.services.cases import HostSpec, UrlItem
from jikimi.services.casework import CaptureScanner, Casework
from jikimi.services.matching import MatchService
from jikimi.services.scans import LazyScanner, ScanService
from jikimi.store import Store, migrate, outbox
from jikimi.store import audit as audit_repo
from jikimi.store import casework as case_repo
from jikimi.store.case_models import OutboxRow

POLL_S = 2
"""How often the simulated runner looks for due work (``jikimi worker``'s default ``--poll``)."""
PROCESSES = 2
"""jikimi processes: one per core, as ``jikimi serve --workers 2`` and ``jikimi worker``
share a 2-core server."""
MARKER = "This content has been removed for violating our policies"
HOSTS = {
    "mail": ("take_it_down", ContactKind.EMAIL),
    "form": ("kcsc", ContactKind.FORM),
    "board": ("take_it_down", ContactKind.EMAIL),
}


def _jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(blocks).resize((128, 128), Image.Resampling.NEAREST).save(out, "JPEG")
    return out.getvalue()


@dataclass
class Truth:
    n: int
    host: str
    content: bytes
    delay_h: float | None  # after the notice; None: never removed
    kind: str  # how the host removes it: 404, 410, marker, replaced
    repost: bool
    item_id: str = ""
    notified_at: datetime | None = None
    reposted: bool = False

    def removed_at(self, notified_at: datetime | None = None) -> datetime | None:
        """When the host takes it down: ``delay_h`` after the notice (``notified_at``,
        by default the one this process knows)."""
        notified = self.notified_at if notified_at is None else notified_at
        if self.delay_h is None or notified is None:
            return None
        return notified + timedelta(hours=self.delay_h)


class _World:
    """What the simulated hosts need to know of the bench's state, in shared memory.

    The hosts run in a process of their own (a platform is not inside jikimi's
    process, and in this one its request threads would compete with jikimi's for
    the interpreter lock): the bench writes the simulated clock, each item's notice
    time and its re-posting here, and the hosts read them.
    """

    def __init__(self, n_items: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self._now = ctx.RawValue("d", 0.0)
        self._notified = ctx.RawArray("d", [math.nan] * n_items)
        self._reposted = ctx.RawArray("b", n_items)

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self._now.value, UTC)

    @now.setter
    def now(self, at: datetime) -> None:
        self._now.value = at.timestamp()

    def notify(self, truth: Truth, at: datetime | None) -> None:
        truth.notified_at = at
        self._notified[truth.n] = math.nan if at is None else at.timestamp()

    def repost(self, truth: Truth) -> None:
        truth.reposted = True
        self._reposted[truth.n] = 1

    def removed_at(self, truth: Truth) -> datetime | None:
        """``truth.removed_at()`` as the hosts' process sees it."""
        notified = self._notified[truth.n]
        if math.isnan(notified):
            return None
        return truth.removed_at(datetime.fromtimestamp(notified, UTC))

    def reposted(self, truth: Truth) -> bool:
        return bool(self._reposted[truth.n])


class _Hosts(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a platform serves
    disable_nagle_algorithm = True  # as servers do: no 40 ms stall between header and body
    items: ClassVar[dict[str, Truth]] = {}
    reposts: ClassVar[dict[str, Truth]] = {}
    world: ClassVar[_World]
    other = _jpeg(10**6)

    def do_GET(self) -> None:
        now = self.world.now
        truth = self.items.get(self.path)
        status, body = 404, b""
        if truth is not None:
            gone = self.world.removed_at(truth)
            if gone is None or now < gone:
                status, body = 200, truth.content
            elif truth.kind == "410":
                status = 410
            elif truth.kind == "marker":
                status, body = 200, f"<html><p>{MARKER}</p></html>".encode()
            elif truth.kind == "replaced":
                status, body = 200, self.other
        elif self.path in self.reposts and self.world.reposted(self.reposts[self.path]):
            status, body = 200, self.reposts[self.path].content
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _Box:
    """The hosts' mail server's inbox: each message a file, read by the bench at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(0)
        self.count += 1
        (self.folder / f"{self.count:06d}.eml").write_bytes(envelope.content)
        return "250 OK"

    def messages(self) -> list[bytes]:
        return [p.read_bytes() for p in sorted(self.folder.glob("*.eml"))]


def _serve_hosts(httpd: ThreadingHTTPServer, box: _Box, smtp_port: int) -> None:
    """The hosts' process: their web servers and their mail server."""
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        httpd.serve_forever()
    finally:
        controller.stop()


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _truths(n_items: int, days: int, rng: random.Random) -> list[Truth]:
    out = []
    for n in range(n_items):
        host = rng.choice(list(HOSTS))
        deadline = 24 if HOSTS[host][0] == "kcsc" else 48
        roll = rng.random()
        if roll < 0.25:
            delay = None
        elif roll < 0.65:
            delay = rng.uniform(0.2, deadline * 0.9)
        else:
            delay = rng.uniform(deadline * 1.1, (days - 3) * 24)
        kind = "marker" if host == "board" else rng.choice(["404", "410", "replaced"])
        repost = delay is not None and rng.random() < 0.15
        out.append(Truth(n, host, _jpeg(n), delay, kind, repost))
    return out


@dataclass
class _Desk:
    """What every jikimi process of the bench is given (before the fork)."""

    settings: Settings
    base: str
    bank_id: str
    worker: Principal
    reviewer: Principal
    world: _World
    truths: list[Truth]
    processes: int


def _jikimi(desk: _Desk, *, scanner: bool) -> tuple[Store, MatchService, BankService, Casework]:
    """jikimi's services in this process, as a door or ``jikimi worker`` builds them."""
    store = Store.from_settings(desk.settings)
    matching = MatchService(store, desk.settings)
    matching.load()
    banks = BankService(store, settings=desk.settings, listener=matching)
    if not scanner:
        return store, matching, banks, Casework.from_settings(desk.settings, store)
    scans = ScanService(store, LazyScanner(desk.settings), matching.matcher_for)
    work = Casework.from_settings(desk.settings, store, scanner=CaptureScanner(scans))
    scans.on_stored = work.reuploads.on_stored
    scans.scanner.warm_up()
    return store, matching, banks, work


def _desk_process(desk: _Desk, k: int, conn: Connection) -> None:
    """One of the ``processes`` jikimi processes: a caseworker's door, then a runner.

    It captures, drafts, approves and sends the cases ``k``, ``k + processes``, …;
    then, told to, delivers and re-checks what is due on the simulated clock (the
    processes share the outbox by its leases, as several ``jikimi worker`` do).
    """
    store, _, banks, work = _jikimi(desk, scanner=True)
    conn.send("ready")
    conn.recv()
    cpu = time.process_time()
    per_item_ms: dict[int, float] = {}
    item_ids: dict[int, str] = {}
    for group_no, start in enumerate(range(0, len(desk.truths), 5)):
        if group_no % desk.processes == k:
            _case(desk, work, desk.truths[start : start + 5], per_item_ms, item_ids)
    conn.send((per_item_ms, item_ids, time.process_time() - cpu))
    deliverer = work.deliverer()
    rechecker = work.rechecker(banks.add_entries)
    deliverer.clock = rechecker.clock = lambda: desk.world.now
    cpu = time.process_time()
    while (command := conn.recv()) != "stop":
        deliverer.run_until_idle()  # each runner reads first: an idle one takes no write lock
        conn.send(0 if command == "deliver" else rechecker.run_until_idle())
    conn.send(time.process_time() - cpu)
    store.close()


def _case(
    desk: _Desk,
    work: Casework,
    group: list[Truth],
    per_item_ms: dict[int, float],
    item_ids: dict[int, str],
) -> None:
    """A caseworker's case of five URLs: captured, scanned, drafted, approved, sent."""
    case = work.cases.open(desk.worker, title=f"case {group[0].n // 5}", language="ko",
                           takedown_bank_id=desk.bank_id).case  # fmt: skip
    t0 = time.perf_counter()
    added = work.cases.add_urls(
        desk.worker,
        case.id,
        [UrlItem(f"{desk.base}/{t.host}/{t.n}.jpg", t.host, f"@s{t.n % 7}") for t in group],
    )
    share = (time.perf_counter() - t0) * 1000 / len(group)
    for t, item in zip(group, added, strict=True):
        per_item_ms[t.n] = share
        assert item.status is ItemStatus.PENDING, item.reason
        item_ids[t.n] = item.id
    for host in sorted({t.host for t in group}):
        t0 = time.perf_counter()
        notice = work.notices.draft(desk.worker, case.id, host)
        share = (time.perf_counter() - t0) * 1000 / len(notice.item_ids)
        for t in group:
            if t.host == host:
                per_item_ms[t.n] += share
        work.notices.approve(desk.reviewer, notice.id)
        if HOSTS[host][1] is ContactKind.FORM:
            work.notices.mark_sent(desk.worker, notice.id, "submitted on the form")
        else:
            work.notices.send(desk.worker, notice.id)


def run(n_items: int, days: int, seed: int, processes: int = PROCESSES) -> dict[str, Any]:
    rng = random.Random(seed)
    truths = _truths(n_items, days, rng)
    sim = _World(n_items)
    sim.now = datetime.now(UTC)
    _Hosts.world = sim
    _Hosts.items = {f"/{t.host}/{t.n}.jpg": t for t in truths}
    _Hosts.reposts = {f"/{t.host}/again/{t.n}.jpg": t for t in truths if t.repost}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hosts)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    # in memory where the machine has it: the bench measures jikimi, not the disk's fsync
    shm = Path("/dev/shm")
    tmp = tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None)
    inbox = Path(tmp.name) / "inbox"
    inbox.mkdir()
    box = _Box(inbox)
    smtp_port = _free_port()
    fork = multiprocessing.get_context("fork")
    # forked before any thread or model session exists in this process
    hosts = fork.Process(target=_serve_hosts, args=(httpd, box, smtp_port), daemon=True)
    hosts.start()
    httpd.socket.close()
    _wait_for_port(smtp_port)
    desks: list[tuple[Any, Connection]] = []
    try:
        settings = Settings(
            data_dir=Path(tmp.name) / "data",
            capture_allow_networks=["127.0.0.1/32"],
            smtp_port=smtp_port,
            grade_threads=threads_per_process(processes),
        )
        migrate(settings)
        store = Store.from_settings(settings)
        _, issued = TenantService(store).create("bench")
        keys = KeyService(store)
        admin = keys.authenticate(issued.secret)
        worker = keys.authenticate(keys.issue(admin, Role.CASEWORKER, "desk").secret)
        reviewer = keys.authenticate(keys.issue(admin, Role.REVIEWER, "lead").secret)
        platform = keys.authenticate(keys.issue(admin, Role.PLATFORM, "uploads").secret)
        banks = BankService(store, settings=settings)
        bank = banks.create(admin, BankCreate(name="TAKEDOWNS", kind=BankKind.TAKEDOWN))
        work = Casework.from_settings(settings, store)  # creates the instance's keys
        for slug, (basis, kind) in HOSTS.items():
            value = f"abuse@{slug}.example" if kind is ContactKind.EMAIL else f"{base}/{slug}/form"
            markers = (MARKER,) if slug == "board" else ()
            work.hosts.add(
                worker,
                HostSpec(slug, slug.title(), "ko", (Contact(kind=kind, value=value),), (basis,),
                         removal_markers=markers),
            )  # fmt: skip
        store.close()  # no connection crosses the fork
        desk = _Desk(settings, base, bank.id, worker, reviewer, sim, truths, processes)
        for k in range(processes):
            mine, theirs = fork.Pipe()
            process = fork.Process(target=_desk_process, args=(desk, k, theirs), daemon=True)
            process.start()
            desks.append((process, mine))
        for _, conn in desks:
            assert conn.recv() == "ready"
        store, matching, _, work = _jikimi(desk, scanner=False)
        _say(f"models loaded in {processes} processes; capturing {n_items} items")

        # capture, scan, draft, approve, send: cases of five items, shared by the desks
        t_setup = time.perf_counter()
        cpu_setup = time.process_time()
        for _, conn in desks:
            conn.send("go")
        per_item_ms: dict[int, float] = {}
        setup_cpu_s = 0.0
        for _, conn in desks:
            ms, ids, cpu = conn.recv()
            per_item_ms.update(ms)
            setup_cpu_s += cpu
            for n, item_id in ids.items():
                truths[n].item_id = item_id
        setup_s = time.perf_counter() - t_setup
        setup_cpu_s += time.process_time() - cpu_setup
        _say(f"captured, scanned and drafted {n_items} items in {setup_s:.1f} s")

        def everyone(command: str) -> float:
            for _, conn in desks:
                conn.send(command)
            return sum(conn.recv() for _, conn in desks)

        sim.now = datetime.now(UTC)
        t0_sim = sim.now
        t_deliver = time.perf_counter()
        everyone("deliver")
        deliver_s = time.perf_counter() - t_deliver
        by_item = {t.item_id: t for t in truths}
        for item in _items(work, worker):
            sim.notify(by_item[item.id], item.notified_at)

        # the clock runs to each moment something is due, at most as often as a runner
        # polling every POLL_S seconds looks, and at least every six hours (re-posts)
        t_loop = time.perf_counter()
        cpu_loop = time.process_time()
        end_sim = t0_sim + timedelta(days=days)
        reposting = [t for t in truths if t.repost]
        checks = steps = 0
        while sim.now < end_sim:
            steps += 1
            with store.session() as s:
                due = s.scalar(
                    sa.select(sa.func.min(OutboxRow.next_at)).where(
                        OutboxRow.state == outbox.PENDING
                    )
                )
            step = sim.now + timedelta(hours=6)
            if due is not None:
                due = due if due.tzinfo else due.replace(tzinfo=UTC)
                step = min(step, max(due, sim.now + timedelta(seconds=POLL_S)))
            sim.now = min(step, end_sim)
            back = [t for t in reposting if not t.reposted and _back(t, sim.now)]
            if back:
                matching.refresh()  # the desks banked removed items' hashes
            for t in back:
                sim.repost(t)  # a platform's upload check sees it under a new URL
                md5 = hashlib.md5(t.content).hexdigest()
                found = matching.match_hashes(
                    platform, [Signal.model_construct(type=SignalKind.MD5, value=md5)]
                )
                work.reuploads.link_matches(found)
            checks += int(everyone("run"))
        loop_s = time.perf_counter() - t_loop
        loop_cpu_s = time.process_time() - cpu_loop + everyone("stop")
        _say(f"{days} simulated days, {checks} re-checks in {loop_s:.1f} s")
        end = sim.now
        items = {i.id: i for i in _items(work, worker)}
        lags, naive_lags = [], []
        removed_truth = removed_detected = false_removed = 0
        overdue_truth = overdue_flagged = naive_detected = 0
        for t in truths:
            item = items[t.item_id]
            gone = t.removed_at()
            truly_gone = gone is not None and gone <= end
            removed_truth += truly_gone
            if item.removed_at is not None:
                if not truly_gone or (gone is not None and item.removed_at < gone):
                    false_removed += 1
                else:
                    removed_detected += 1
                    lags.append((item.removed_at - gone).total_seconds() / 3600)  # type: ignore[operator]
            deadline = item.deadline_at
            assert deadline is not None
            if gone is not None and gone <= deadline:
                naive_detected += 1
                naive_lags.append((deadline - gone).total_seconds() / 3600)
            overdue_truth += (gone is None or gone > deadline) and end > deadline
            overdue_flagged += was_overdue(item, end)
        messages = box.messages()
        ids = Counter(message_from_bytes(m)["Message-ID"] for m in messages)
        with store.session() as s:
            entries = list(audit_repo.iter_all(s))
        delivered = Counter(e.entity_id for e in entries if e.action == "delivered")
        duplicate_sends = sum(c - 1 for c in ids.values()) + sum(c - 1 for c in delivered.values())
        audit_ok = verify(entries).ok
        email_notices = sum(
            1 for e in entries if e.action == "send" and e.data.get("channel") == "email"
        )
        store.close()
    finally:
        for process, _ in desks:
            process.terminate()
            process.join()
        hosts.terminate()
        hosts.join()
        tmp.cleanup()
    return {
        "name": "takedown",
        "items": n_items,
        "days": days,
        "processes": processes,
        "removed_truth": removed_truth,
        "removed_detected": removed_detected,
        "false_removed": false_removed,
        "overdue_truth": overdue_truth,
        "overdue_flagged": overdue_flagged,
        "reappeared_truth": sum(t.reposted for t in truths),
        "reappeared_detected": sum(1 for i in items.values() if i.reappeared_at is not None),
        "duplicate_sends": duplicate_sends,
        "emails": len(messages),
        "email_notices": email_notices,
        "audit_ok": audit_ok,
        "audit_rows": len(entries),
        "rechecks": checks,
        "clock_steps": steps,
        "draft_ms_p50": round(statistics.median(per_item_ms.values()), 1),
        "detect_lag_h_p50": round(statistics.median(lags), 2) if lags else None,
        "naive_removed_detected": naive_detected,
        "naive_detect_lag_h_p50": round(statistics.median(naive_lags), 2) if naive_lags else None,
        "setup_s": round(setup_s, 1),
        "loop_s": round(loop_s, 1),
        "deliver_s": round(deliver_s, 1),
        "setup_cpu_s": round(setup_cpu_s, 1),
        "loop_cpu_s": round(loop_cpu_s, 1),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }


def _back(truth: Truth, now: datetime) -> bool:
    """Is it time to re-post this removed item (two days after its removal)?"""
    gone = truth.removed_at()
    return gone is not None and now >= gone + timedelta(days=2)


def _say(text: str) -> None:
    print(f"takedown: {text}", file=sys.stderr, flush=True)


def _items(work: Casework, principal: Any) -> list[Any]:
    """Every item of the tenant (``cases.list`` shows the newest 100 cases only)."""
    with work.store.session() as s:
        return case_repo.list_items(s, principal.tenant_id)


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=int, default=0, help="items (default 1000, quick 1000)")
    parser.add_argument("--days", type=int, default=0, help="simulated days (31, quick 8)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--processes", type=int, default=PROCESSES, help="jikimi processes (default 2)"
    )


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _extra)
    n_items = args.items or 1000
    days = args.days or (8 if args.quick else 31)
    emit(run(n_items, days, args.seed, max(1, args.processes)))


if __name__ == "__main__":
    main()

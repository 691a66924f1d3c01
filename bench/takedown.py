"""Benchmark the takedown loop against simulated hosts, on a controllable clock.

``python -m bench.takedown [--quick] [--items N] [--days N]``

A local HTTP server on 127.0.0.1 plays three hosts (one takes notices by e-mail,
one by web form, one by e-mail and shows a removal page). Each serves one
distinct synthetic image per item URL and takes it down after a random delay on
the simulated clock: some within the deadline, some after it, some never; the
removal is a 404, a 410, the host's removal page or other content at the same
URL. Some removed items are re-posted later under a new URL, where a platform's
hash lookup (``/v1/match``'s service) sees them.

jikimi runs as in production, in this process, on a fresh SQLite database: items
captured by URL (fetched, sealed, hashed and scanned with the nudity model), one
notice per case and host drafted, approved by a second key, sent through the
outbox to a real SMTP server on 127.0.0.1 (or marked sent for the form host);
the deliverer and the re-checks run on the simulated clock, which moves to the
next moment something is due (at least every six hours).

Compared in the same run with the peer a caseworker has without jikimi: one
manual check of each URL at its deadline (``naive_*``). ``detect_lag_h_p50`` is
hours from the true removal to jikimi seeing it (the naive one waits for the
deadline). ``draft_ms_p50``: capture + scan + this item's share of drafting its
notice, wall clock (a case's five URLs are added together, as a caseworker pasting
them does). ``setup_cpu_s``/``loop_cpu_s``: CPU seconds of this process
for the same phases (the hosts, their web and mail servers, run in a process of
their own, as a platform does), with the machine's ``load_avg_1m``: on a shared
machine the wall clock says more about the neighbours than about jikimi.
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
from jikimi.domain import BankCreate, BankKind, Role, Signal, SignalKind
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


def run(n_items: int, days: int, seed: int) -> dict[str, Any]:
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
    # forked before any thread or model session exists in this process
    hosts = multiprocessing.get_context("fork").Process(
        target=_serve_hosts, args=(httpd, box, smtp_port), daemon=True
    )
    hosts.start()
    httpd.socket.close()
    _wait_for_port(smtp_port)
    try:
        settings = Settings(
            data_dir=Path(tmp.name) / "data",
            capture_allow_networks=["127.0.0.1/32"],
            smtp_port=smtp_port,
        )
        migrate(settings)
        store = Store.from_settings(settings)
        _, issued = TenantService(store).create("bench")
        keys = KeyService(store)
        admin = keys.authenticate(issued.secret)
        worker = keys.authenticate(keys.issue(admin, Role.CASEWORKER, "desk").secret)
        reviewer = keys.authenticate(keys.issue(admin, Role.REVIEWER, "lead").secret)
        platform = keys.authenticate(keys.issue(admin, Role.PLATFORM, "uploads").secret)
        matching = MatchService(store, settings)
        matching.load()
        banks = BankService(store, settings=settings, listener=matching)
        bank = banks.create(admin, BankCreate(name="TAKEDOWNS", kind=BankKind.TAKEDOWN))
        scans = ScanService(store, LazyScanner(settings), matching.matcher_for)
        work = Casework.from_settings(settings, store, scanner=CaptureScanner(scans))
        scans.on_stored = work.reuploads.on_stored
        for slug, (basis, kind) in HOSTS.items():
            value = f"abuse@{slug}.example" if kind is ContactKind.EMAIL else f"{base}/{slug}/form"
            markers = (MARKER,) if slug == "board" else ()
            work.hosts.add(
                worker,
                HostSpec(slug, slug.title(), "ko", (Contact(kind=kind, value=value),), (basis,),
                         removal_markers=markers),
            )  # fmt: skip
        scans.scanner.warm_up()
        _say(f"models loaded; capturing {n_items} items")

        # capture, scan, draft, approve, send: cases of five items
        per_item_ms: dict[int, float] = {}
        t_setup = time.perf_counter()
        cpu_setup = time.process_time()
        for start in range(0, n_items, 5):
            group = truths[start : start + 5]
            case = work.cases.open(worker, title=f"case {start // 5}", language="ko",
                                   takedown_bank_id=bank.id).case  # fmt: skip
            t0 = time.perf_counter()
            added = work.cases.add_urls(
                worker,
                case.id,
                [UrlItem(f"{base}/{t.host}/{t.n}.jpg", t.host, f"@s{t.n % 7}") for t in group],
            )
            share = (time.perf_counter() - t0) * 1000 / len(group)
            for t, item in zip(group, added, strict=True):
                per_item_ms[t.n] = share
                assert item.status is ItemStatus.PENDING, item.reason
                t.item_id = item.id
            for host in sorted({t.host for t in group}):
                t0 = time.perf_counter()
                notice = work.notices.draft(worker, case.id, host)
                share = (time.perf_counter() - t0) * 1000 / len(notice.item_ids)
                for t in group:
                    if t.host == host:
                        per_item_ms[t.n] += share
                work.notices.approve(reviewer, notice.id)
                if HOSTS[host][1] is ContactKind.FORM:
                    work.notices.mark_sent(worker, notice.id, "submitted on the form")
                else:
                    work.notices.send(worker, notice.id)
        setup_s = time.perf_counter() - t_setup
        setup_cpu_s = time.process_time() - cpu_setup
        _say(f"captured, scanned and drafted {n_items} items in {setup_s:.1f} s")

        deliverer = work.deliverer()
        rechecker = work.rechecker(banks.add_entries)
        deliverer.clock = rechecker.clock = lambda: sim.now
        sim.now = datetime.now(UTC)
        t0_sim = sim.now
        deliverer.run_until_idle()
        by_item = {t.item_id: t for t in truths}
        for item in _items(work, worker):
            sim.notify(by_item[item.id], item.notified_at)

        # the clock runs to each moment something is due (what a runner polling every
        # few seconds sees), and at least every six hours (for the re-posts)
        t_loop = time.perf_counter()
        cpu_loop = time.process_time()
        end_sim = t0_sim + timedelta(days=days)
        reposting = [t for t in truths if t.repost]
        checks = 0
        while sim.now < end_sim:
            with store.session() as s:
                due = s.scalar(
                    sa.select(sa.func.min(OutboxRow.next_at)).where(
                        OutboxRow.state == outbox.PENDING
                    )
                )
            step = sim.now + timedelta(hours=6)
            if due is not None:
                due = due if due.tzinfo else due.replace(tzinfo=UTC)
                step = min(step, max(due, sim.now + timedelta(seconds=1)))
            sim.now = min(step, end_sim)
            for t in reposting:
                gone = t.removed_at()
                if not t.reposted and gone and sim.now >= gone + timedelta(days=2):
                    sim.repost(t)  # a platform's upload check sees it under a new URL
                    md5 = hashlib.md5(t.content).hexdigest()
                    found = matching.match_hashes(
                        platform, [Signal.model_construct(type=SignalKind.MD5, value=md5)]
                    )
                    work.reuploads.link_matches(found)
            with store.session() as s:
                if not outbox.anything_due(s, sim.now):
                    continue  # what a runner does: a read, no write lock, when idle
            deliverer.run_until_idle()
            checks += rechecker.run_until_idle()
        loop_s = time.perf_counter() - t_loop
        loop_cpu_s = time.process_time() - cpu_loop
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
        hosts.terminate()
        hosts.join()
        tmp.cleanup()
    return {
        "name": "takedown",
        "items": n_items,
        "days": days,
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
        "draft_ms_p50": round(statistics.median(per_item_ms.values()), 1),
        "detect_lag_h_p50": round(statistics.median(lags), 2) if lags else None,
        "naive_removed_detected": naive_detected,
        "naive_detect_lag_h_p50": round(statistics.median(naive_lags), 2) if naive_lags else None,
        "setup_s": round(setup_s, 1),
        "loop_s": round(loop_s, 1),
        "setup_cpu_s": round(setup_cpu_s, 1),
        "loop_cpu_s": round(loop_cpu_s, 1),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }


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


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _extra)
    n_items = args.items or 1000
    days = args.days or (8 if args.quick else 31)
    emit(run(n_items, days, args.seed))


if __name__ == "__main__":
    main()

"""``jikimi worker`` killed with SIGKILL mid-delivery, then restarted: one mail per notice.

A real worker process delivers a dozen queued notices to a real SMTP server on
127.0.0.1 that takes its time over each message. The test kills the process with
``kill -9`` once some mail has arrived (so it dies with work done, work in flight
and work not started), starts a new worker, and waits for every notice to be
``sent``. Then: each notice reached the box under exactly one Message-ID (its
outbox key), so a receiver that drops repeats of a Message-ID sees each notice
once; at most the one message in flight at the kill was repeated; nothing is
queued any more; and the audit chain is intact.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from service_helpers import Side

from jikimi.audit.chain import verify
from jikimi.cases.lifecycle import NoticeState
from jikimi.cases.types import Contact, ContactKind
from jikimi.config import Settings
from jikimi.domain import Role, SignalKind
from jikimi.services.cases import HostSpec
from jikimi.services.casework import Casework
from jikimi.store import Store, outbox
from jikimi.store import audit as audit_repo

NOTICES = 12
SRC = Path(__file__).resolve().parents[2] / "src"


class _SlowBox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.3)
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _SlowBox]]:
    box = _SlowBox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, box
    controller.stop()


def _worker(settings: Settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "JIKIMI_DATA_DIR": str(settings.data_dir),
        "JIKIMI_DATABASE_URL": settings.database_url,
        "JIKIMI_SMTP_HOST": "127.0.0.1",
        "JIKIMI_SMTP_PORT": str(port),
        "JIKIMI_CASEWORK_LEASE_S": "3",
    }
    code = "from jikimi.cli import main; main()"
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-c", code, "worker", "--poll", "0.1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def _states(store: Store, work: Casework, acme: Side) -> Counter[NoticeState]:
    return Counter(n.state for n in work.notices.list(acme.as_[Role.REVIEWER]))


def test_kill_9_mid_delivery_sends_each_notice_once(
    store: Store, settings: Settings, acme: Side, smtp: tuple[int, _SlowBox], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    port, box = smtp
    work = Casework.from_settings(settings, store)
    worker, reviewer = acme.as_[Role.CASEWORKER], acme.as_[Role.REVIEWER]
    work.hosts.add(
        worker,
        HostSpec("mail", "Mail", "en", (Contact(kind=ContactKind.EMAIL, value="abuse@m.example"),)),
    )
    for n in range(NOTICES):
        case = work.cases.open(worker, title=f"case {n}", language="en").case
        work.cases.add_hashes(worker, case.id, {SignalKind.MD5: f"{n:032x}"}, host="mail")
        notice = work.notices.draft(worker, case.id, "mail")
        work.notices.approve(reviewer, notice.id)
        work.notices.send(worker, notice.id)
    assert _states(store, work, acme) == {NoticeState.SENDING: NOTICES}

    first = _worker(settings, port, log)
    try:
        deadline = time.monotonic() + 120
        while len(box.messages) < 3:
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the worker delivered nothing"
            time.sleep(0.05)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL
    at_kill = len(box.messages)
    assert at_kill < NOTICES, "the worker finished before it was killed: nothing was tested"

    second = _worker(settings, port, log)
    try:
        deadline = time.monotonic() + 180
        while _states(store, work, acme)[NoticeState.SENT] < NOTICES:
            assert second.poll() is None, log.read_text()
            assert time.monotonic() < deadline, _states(store, work, acme)
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    ids = [message_from_bytes(m)["Message-ID"] for m in box.messages]
    per_id = Counter(ids)
    assert len(per_id) == NOTICES  # every notice, each under one Message-ID
    assert sum(per_id.values()) - NOTICES <= 1  # at most the one in flight at the kill again
    sent = work.notices.list(reviewer)
    assert {n.channel["key"] for n in sent if n.channel} == {
        i.strip("<>").split("@")[0].replace(".", ":") for i in per_id
    }
    with store.session() as s:
        # nothing left to deliver (hash-only items queue no re-checks), even later
        assert not outbox.anything_due(s, datetime.now(UTC) + timedelta(minutes=5))
        assert verify(audit_repo.iter_all(s)).ok

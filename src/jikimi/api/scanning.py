"""The scan door's seam: uploaded bytes in, a stored Verdict out, in batches.

Routes submit scans to a :class:`ScanBatcher`, which groups the requests that
arrive while earlier batches are running and hands each group to a
:class:`ScanBackend` at once: the grade model runs batched, which is where a
scan spends most of its time (measured: one process, 1 MP JPEGs, about 1.5x
the throughput at batches of 4-8). An idle server still answers a lone request
at once: a batch starts as soon as a slot is free; it never waits to fill up.

::

    request ─► ScanBatcher.scan ─► queue ─► (free slot) ─► batch of ≤ 8, one key
                                                            └─► threadpool:
                                                                backend.scan_many

The backend is :class:`~jikimi.services.scans.ScanService`: the pipeline with
the caller's bank matcher, every Verdict stored for ``GET /v1/scans/{id}`` and
for retroactive matching; it enforces the role matrix. One
:class:`~jikimi.pipeline.Scanner` per process (:class:`LazyScanner`, re-exported
here), built on first use and shared by every thread.

One request's failure is its own
    A batch holds one caller's requests, so a typed error of the whole batch
    (``forbidden``, ``index_not_ready``) is every request's answer. Anything else
    the backend raises for a batch is not known to be every request's fault: the
    batch is run again one request at a time, and only the request that fails on
    its own gets the error (a 500, logged by the problem handler). The pipeline
    already turns one item's unexpected error into that item's ``internal_error``
    Verdict; this is the guard for what happens around it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from jikimi.domain import Principal, Verdict
from jikimi.errors import JikimiError
from jikimi.pipeline import Item
from jikimi.services.scans import LazyScanner

__all__ = ["MAX_BATCH", "MAX_INFLIGHT", "LazyScanner", "ScanBackend", "ScanBatcher"]

log = logging.getLogger(__name__)

MAX_BATCH = 8
MAX_INFLIGHT = 2
"""Batches running at once per process: one computing while the next one decodes."""


class ScanBackend(Protocol):
    """What the scan routes need (:class:`~jikimi.services.scans.ScanService`'s shape)."""

    def scan_many(self, principal: Principal, items: Sequence[Item]) -> list[Verdict]:
        """Scan items for one caller, in order; raises if the caller may not scan."""
        ...

    def get(self, principal: Principal, scan_id: str) -> Verdict: ...


@dataclass(eq=False)
class _Pending:
    principal: Principal
    item: Item
    future: asyncio.Future[Verdict] = field(repr=False)


class ScanBatcher:
    """Runs concurrent scan requests in batches (see the module docstring).

    Lives on the event loop: :meth:`scan` is called from request handlers, and
    batches run in the threadpool as tasks of their own, so a request that is
    cancelled (client gone, timeout) never strands the others in its batch.
    """

    def __init__(
        self,
        backend: ScanBackend,
        max_batch: int = MAX_BATCH,
        max_inflight: int = MAX_INFLIGHT,
    ) -> None:
        self.backend = backend
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self._queue: deque[_Pending] = deque()
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def scan(self, principal: Principal, data: bytes, source: Mapping[str, Any]) -> Verdict:
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(principal, Item(data, dict(source)), future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        while self._inflight < self.max_inflight and self._queue:
            first = self._queue.popleft()
            batch = [first]
            kept: deque[_Pending] = deque()
            while self._queue and len(batch) < self.max_batch:
                pending = self._queue.popleft()
                (batch if pending.principal == first.principal else kept).append(pending)
            self._queue.extendleft(reversed(kept))
            self._inflight += 1
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[_Pending]) -> None:
        try:
            live = [p for p in batch if not p.future.done()]  # skip cancelled requests
            if len(live) > 1:
                try:
                    await self._scan(live)
                except JikimiError:
                    raise
                except Exception as exc:  # not known to be every request's: one by one
                    log.warning(
                        "a batch of %d scans failed (%s); scanning them one by one",
                        len(live),
                        type(exc).__name__,
                    )
                    for pending in live:
                        await self._alone(pending)
            elif live:
                await self._scan(live)
        except Exception as exc:  # e.g. Forbidden: every request of the batch gets it
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
        finally:
            self._inflight -= 1
            self._dispatch()

    async def _scan(self, live: list[_Pending]) -> None:
        verdicts = await run_in_threadpool(
            self.backend.scan_many, live[0].principal, [p.item for p in live]
        )
        for pending, verdict in zip(live, verdicts, strict=True):
            if not pending.future.done():
                pending.future.set_result(verdict)

    async def _alone(self, pending: _Pending) -> None:
        if pending.future.done():  # cancelled meanwhile
            return
        try:
            await self._scan([pending])
        except Exception as exc:
            if not pending.future.done():
                pending.future.set_exception(exc)

"""The scan batcher: concurrent requests share batches, answers go to the right caller."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from jikimi.api.scanning import ScanBatcher
from jikimi.domain import Principal, Role, Verdict
from jikimi.errors import Forbidden
from jikimi.pipeline import Item

ALICE = Principal(tenant_id="ten_a", key_id="key_a", role=Role.PLATFORM)
BOB = Principal(tenant_id="ten_b", key_id="key_b", role=Role.PLATFORM)
NOBODY = Principal(tenant_id="ten_a", key_id="key_c", role=Role.CASEWORKER)


class SlowBackend:
    """Echoes each item's bytes as the verdict id; records batches; refuses caseworkers."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.batches: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    def scan_many(self, principal: Principal, items: Sequence[Item]) -> list[Verdict]:
        if principal.role == Role.CASEWORKER:
            raise Forbidden("no")
        time.sleep(self.seconds)
        with self.lock:
            self.batches.append((principal.key_id, [i.data.decode() for i in items]))
        return [Verdict(id=i.data.decode(), source=dict(i.source)) for i in items]

    def get(self, principal: Principal, scan_id: str) -> Verdict:
        raise NotImplementedError


def test_concurrent_requests_are_batched_per_key_and_answered_in_order() -> None:
    backend = SlowBackend()
    batcher = ScanBatcher(backend, max_batch=4, max_inflight=1)

    async def main() -> list[Verdict]:
        calls = [
            batcher.scan(ALICE if n % 3 else BOB, f"scan-{n}".encode(), {"n": n}) for n in range(12)
        ]
        return await asyncio.gather(*calls)

    verdicts = asyncio.run(main())
    assert [v.id for v in verdicts] == [f"scan-{n}" for n in range(12)]
    assert [v.source["n"] for v in verdicts] == list(range(12))
    assert backend.batches[0] == ("key_b", ["scan-0"])  # a lone first request runs at once
    assert all(len(items) <= 4 for _, items in backend.batches)
    for key, items in backend.batches:  # never mixes callers
        owners = {"key_b" if int(i.split("-")[1]) % 3 == 0 else "key_a" for i in items}
        assert owners == {key}
    assert len(backend.batches) < 12  # requests that queued up were batched
    assert sorted(i for _, items in backend.batches for i in items) == sorted(
        f"scan-{n}" for n in range(12)
    )


def test_errors_reach_only_their_batch() -> None:
    batcher = ScanBatcher(SlowBackend(0.01), max_batch=4, max_inflight=1)

    async def main() -> tuple[Verdict, BaseException | Verdict]:
        ok, refused = await asyncio.gather(
            batcher.scan(ALICE, b"fine", {}),
            batcher.scan(NOBODY, b"nope", {}),
            return_exceptions=True,
        )
        assert isinstance(ok, Verdict)
        return ok, refused

    ok, refused = asyncio.run(main())
    assert ok.id == "fine" and isinstance(refused, Forbidden)


def test_a_cancelled_request_does_not_strand_its_batch() -> None:
    backend = SlowBackend(0.1)
    batcher = ScanBatcher(backend, max_batch=8, max_inflight=1)

    async def main() -> list[Verdict]:
        first = asyncio.ensure_future(batcher.scan(ALICE, b"a", {}))
        await asyncio.sleep(0.01)  # "a" is running; the next three queue up together
        doomed = asyncio.ensure_future(batcher.scan(ALICE, b"b", {}))
        rest = [asyncio.ensure_future(batcher.scan(ALICE, x, {})) for x in (b"c", b"d")]
        await asyncio.sleep(0.01)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        return [await first, *[await r for r in rest]]

    verdicts = asyncio.run(main())
    assert [v.id for v in verdicts] == ["a", "c", "d"]
    assert backend.batches == [("key_a", ["a"]), ("key_a", ["c", "d"])]

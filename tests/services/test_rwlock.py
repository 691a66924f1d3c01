"""The readers-writer lock of the matching service: sharing, exclusion, writer preference."""

from __future__ import annotations

import threading
from collections.abc import Callable

from jikimi.services._rwlock import ReadWriteLock

WAIT_S = 5.0
BLOCKED_S = 0.2  # long enough for a thread that could proceed to have done so


def _in_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_readers_share() -> None:
    lock = ReadWriteLock()
    inside, leave = threading.Barrier(3, timeout=WAIT_S), threading.Event()

    def reader() -> None:
        with lock.read():
            inside.wait()  # all three readers are inside at once, or this times out
            leave.wait(WAIT_S)

    threads = [_in_thread(reader) for _ in range(2)]
    with lock.read():
        inside.wait()
    leave.set()
    for thread in threads:
        thread.join(WAIT_S)
        assert not thread.is_alive()


def test_a_writer_excludes_readers_and_writers() -> None:
    lock = ReadWriteLock()
    entered: list[str] = []

    def reader() -> None:
        with lock.read():
            entered.append("reader")

    def writer() -> None:
        with lock.write():
            entered.append("writer")

    with lock.write():
        threads = [_in_thread(reader), _in_thread(writer)]
        for thread in threads:
            thread.join(BLOCKED_S)
        assert entered == []
    for thread in threads:
        thread.join(WAIT_S)
    assert sorted(entered) == ["reader", "writer"]


def test_a_writer_waits_for_readers_inside() -> None:
    lock = ReadWriteLock()
    wrote = threading.Event()

    def writer() -> None:
        with lock.write():
            wrote.set()

    with lock.read():
        thread = _in_thread(writer)
        assert not wrote.wait(BLOCKED_S)
    assert wrote.wait(WAIT_S)
    thread.join(WAIT_S)


def test_a_waiting_writer_goes_before_new_readers() -> None:
    """Lookups arriving all the time cannot starve a catch-up."""
    lock = ReadWriteLock()
    order: list[str] = []
    writer_waiting = threading.Event()

    def writer() -> None:
        writer_waiting.set()
        with lock.write():
            order.append("writer")

    def late_reader() -> None:
        with lock.read():
            order.append("late reader")

    with lock.read():
        first = _in_thread(writer)
        assert writer_waiting.wait(WAIT_S)
        first.join(BLOCKED_S)  # now queued behind this reader
        second = _in_thread(late_reader)
        second.join(BLOCKED_S)
        assert order == []  # the late reader waits behind the writer
    first.join(WAIT_S)
    second.join(WAIT_S)
    assert order == ["writer", "late reader"]


def test_the_writer_may_reenter_and_read() -> None:
    lock = ReadWriteLock()
    with lock.write(), lock.write(), lock.read():
        pass
    # Released completely: another thread can write now.
    done = threading.Event()

    def writer() -> None:
        with lock.write():
            done.set()

    thread = _in_thread(writer)
    assert done.wait(WAIT_S)
    thread.join(WAIT_S)


def test_an_exception_releases_the_lock() -> None:
    lock = ReadWriteLock()
    for mode in (lock.read, lock.write):
        try:
            with mode():
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    acquired = threading.Event()

    def writer() -> None:
        with lock.write():
            acquired.set()

    thread = _in_thread(writer)
    assert acquired.wait(WAIT_S)
    thread.join(WAIT_S)

"""InOrderWriter: writes one behind the caller, in order, results back in the caller's thread."""

from __future__ import annotations

import functools
import threading

import pytest

from jikimi.services._writer import InOrderWriter

WAIT_S = 10  # generous: only a hang would reach it


def test_background_writes_overlap_the_caller_and_stay_in_order() -> None:
    caller = threading.get_ident()
    release = threading.Event()
    events: list[str] = []
    write_threads: set[int] = set()
    done_threads: set[int] = set()

    def write(n: int) -> int:
        write_threads.add(threading.get_ident())
        if n == 1:
            assert release.wait(WAIT_S)  # runs while the caller goes on (below)
        events.append(f"write {n}")
        return n * 10

    def done(result: int) -> None:
        done_threads.add(threading.get_ident())
        events.append(f"done {result}")

    with InOrderWriter(background=True) as writer:
        writer.submit(lambda: write(1), done)
        events.append("caller reads batch 2")  # submit returned before write 1 finished
        release.set()
        writer.submit(lambda: write(2), done)  # waits for write 1 and runs its done first
        writer.submit(lambda: write(3), done)
    assert events == [
        "caller reads batch 2",
        "write 1",
        "done 10",
        "write 2",
        "done 20",
        "write 3",
        "done 30",
    ]
    assert done_threads == {caller}
    assert caller not in write_threads


def test_inline_mode_runs_everything_in_the_caller() -> None:
    caller = threading.get_ident()
    seen: list[tuple[int, int]] = []
    with InOrderWriter(background=False) as writer:
        writer.submit(threading.get_ident, lambda ident: seen.append((ident, caller)))
        assert seen == [(caller, caller)]  # done already ran


@pytest.mark.parametrize("background", [True, False])
def test_a_failed_write_stops_the_next_ones(background: bool) -> None:
    written: list[int] = []
    done: list[int] = []

    def write(n: int) -> int:
        if n == 2:
            raise OSError("disk on fire")
        written.append(n)
        return n

    with pytest.raises(OSError, match="on fire"), InOrderWriter(background) as writer:
        for n in (1, 2, 3, 4):
            writer.submit(functools.partial(write, n), done.append)
    assert written == [1] and done == [1]


def test_an_error_of_the_caller_lets_the_write_in_flight_finish() -> None:
    done: list[str] = []
    with pytest.raises(ValueError, match="bad input"), InOrderWriter(background=True) as writer:
        writer.submit(lambda: "committed", done.append)
        raise ValueError("bad input")
    assert done == ["committed"]  # its result still reached the caller's callback

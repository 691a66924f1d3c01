"""Writes that run one at a time, in order, while the caller prepares the next one.

A bulk import alternates two kinds of work: reading and checking a batch of
rows (Python, in this process) and writing it (mostly the database server's
time). Done in turn, the import takes their sum; with the write of batch *k*
in a second thread while batch *k + 1* is read, it takes about the larger of
the two::

    caller   read 1 | read 2 | wait | read 3 | wait | ...
    writer          | write 1       | write 2       | ...

At most one write is in flight, writes happen in submission order, and each
write's result is handed to its ``done`` callback in the *caller's* thread, in
the same order, before the next write starts (so counts, listeners and
progress callbacks see what a plain loop would show them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class InOrderWriter:
    """Run ``write`` callables one behind the caller (or inline when not ``background``).

    Use as a context manager: leaving it waits for the write in flight. When the
    block raises, that write still finishes and its ``done`` still runs (what it
    wrote is committed; listeners must hear of it), and the block's exception is
    the one that propagates.
    """

    def __init__(self, background: bool, name: str = "jikimi-writer") -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name) if background else None
        self._pending: tuple[Future[Any], Callable[[Any], None]] | None = None

    def submit(self, write: Callable[[], T], done: Callable[[T], None]) -> None:
        """Finish the previous write (its ``done`` runs here), then start ``write``.

        Inline mode runs ``write`` and ``done`` now. An exception of a write is
        raised here, by the next ``submit`` or by :meth:`finish`.
        """
        self.finish()
        if self._pool is None:
            done(write())
            return
        self._pending = (self._pool.submit(write), done)

    def finish(self) -> None:
        """Wait for the write in flight, if any, and run its ``done``."""
        if self._pending is None:
            return
        future, done = self._pending
        self._pending = None
        done(future.result())

    def __enter__(self) -> InOrderWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None:
                self.finish()
            elif self._pending is not None:
                try:
                    self.finish()
                except Exception:
                    log.exception("a write in flight failed while another error was raised")
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)

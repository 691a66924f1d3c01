"""What makes a bank import recorded and resumable: its file's identity and its lease.

:meth:`BankService.import_file <jikimi.services.banks.BankService.import_file>` keeps
a row per import (:mod:`jikimi.store.imports`): who started it, the file's SHA-256,
and how far it got, written in the same transaction as each page of entries. While
it runs, its process holds a lease in the database, renewed by a heartbeat thread
(every third of ``import_lease_s``) and by each page. A process killed mid-import
(``kill -9``, a lost machine) stops renewing, and once the lease lapses every
process reads the import as ``interrupted``, with its counts as committed. Nothing
on local disk is involved, so it works the same with many API replicas.

A resume re-reads the same file (checked by its SHA-256: another file is
:class:`~jikimi.errors.ImportFileMismatch`), skips the rows already counted and goes
on with the counts it had, so it ends with exactly the entries and counts of an
uninterrupted import. The skipped rows are parsed again but not checked or written,
which costs a small part of importing them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import datetime, timedelta
from types import TracebackType
from typing import IO

from sqlalchemy.orm import Session

from jikimi.domain import RowError
from jikimi.errors import Conflict
from jikimi.services._common import now
from jikimi.store import Store
from jikimi.store import imports as repo

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 30.0
"""The lease of a running import when no settings say otherwise (``import_lease_s``)."""
_DIGEST_CHUNK = 1 << 20


class ImportLeaseLost(Conflict):
    """Another process took this import over (its lease had lapsed): this run stops."""

    code = "import_lease_lost"


def file_digest(stream: IO[bytes]) -> tuple[str, int]:
    """SHA-256 (hex) and size of the rest of a seekable stream, which is left where it was."""
    start = stream.tell()
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(_DIGEST_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(start)
    return digest.hexdigest(), size


class ImportLease:
    """A running import's hold on its row: renewed in the background until closed.

    Use as a context manager around the run. :meth:`record` writes the progress of a
    page in the page's own transaction (and renews the lease with it); it raises
    :class:`ImportLeaseLost` if another process has taken the import over, so that
    page rolls back and the run stops.
    """

    def __init__(self, store: Store, import_id: str, owner: str, lease_s: float) -> None:
        self.store = store
        self.import_id = import_id
        self.owner = owner
        self.lease_s = lease_s
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"jikimi-import-lease-{import_id}", daemon=True
        )
        self._recorded_errors = -1

    def until(self) -> datetime:
        """When a lease taken now lapses."""
        return now() + timedelta(seconds=self.lease_s)

    def record(
        self,
        s: Session,
        *,
        rows_done: int,
        added: int,
        duplicates: int,
        error_count: int,
        errors: tuple[RowError, ...],
    ) -> None:
        """Write the progress in ``s`` (the page's transaction); errors only when they grew."""
        changed = len(errors) != self._recorded_errors
        held = repo.record_progress(
            s,
            self.import_id,
            self.owner,
            rows_done=rows_done,
            added=added,
            duplicates=duplicates,
            error_count=error_count,
            errors=errors if changed else None,
            lease_until=self.until(),
            at=now(),
        )
        if not held:
            self.lost = True
            raise ImportLeaseLost(
                f"import {self.import_id} was taken over by another process (this one stopped "
                "renewing its lease in time); this run stops"
            )
        if changed:  # if the page rolls back after all, the run ends and finish() writes them
            self._recorded_errors = len(errors)

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                with self.store.session(write=True) as s, s.begin():
                    held = repo.renew_lease(s, self.import_id, self.owner, self.until())
            except Exception:  # the database is away: try again at the next beat
                log.warning("could not renew the lease of import %s", self.import_id, exc_info=True)
                continue
            if not held:
                self.lost = True
                log.warning("import %s was taken over by another process", self.import_id)
                return

    def __enter__(self) -> ImportLease:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

"""Import and export of bank entries.

Imports commit every batch of ~20,000 rows (and each ``vpdq`` row, a whole video,
alone and in file order): a crash loses at most the batch in flight, never half of
one, and importing the same file again is safe (rows already there are counted as
duplicates). :meth:`TransferOps.import_file` also records the import, its progress
written in each batch's transaction, so one cut short shows as interrupted with how
far it got and can be resumed (see :mod:`jikimi.services.imports`).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jikimi.domain import (
    MAX_REPORTED_ERRORS,
    Bank,
    BankImport,
    Change,
    Entry,
    EntryMeta,
    EntryStatus,
    ErrorInfo,
    ImportReport,
    ImportRow,
    ImportState,
    Permission,
    Principal,
    RowError,
    RowErrorCode,
    RowFormat,
    SignalKind,
    limits,
)
from jikimi.errors import (
    Conflict,
    ImportFileMismatch,
    ImportNotResumable,
    InvalidHash,
    InvalidInput,
    JikimiError,
    NotFound,
)
from jikimi.matching.kinds import holds_frames
from jikimi.services import imports
from jikimi.services._common import now, require, runner_id
from jikimi.services._writer import InOrderWriter
from jikimi.services.banks import rows as importing
from jikimi.store import entries as entry_repo
from jikimi.store import imports as import_repo
from jikimi.store import video as video_repo
from jikimi.store.entries import NewEntry

if TYPE_CHECKING:
    from jikimi.signals.vpdq import FrameHash

from jikimi.services.banks._base import (
    DEFAULT_PAGE,
    MAX_PAGE,
    ServiceBase,
    log,
    owned,
    visible,
)
from jikimi.services.banks.hashing import video_entry

IMPORT_BATCH = 20_000
EXPORT_VIDEOS = 100
"""Most vPDQ entries in one page of an export: their frames are read with the page (an
hour of video at one hash a second is 3,600 frames)."""


Progress = Callable[[int], None]
"""Called with the number of rows read so far, after each committed batch."""


class TransferOps(ServiceBase):
    """Import entries (streaming, in committed batches, recorded and resumable) and export them."""

    def import_rows(
        self,
        principal: Principal,
        bank: str,
        rows: Iterable[ImportRow | RowError | Mapping[str, Any]],
        on_progress: Progress | None = None,
        *,
        source: str | None = None,
        batch_size: int = IMPORT_BATCH,
    ) -> ImportReport:
        """Add many hashes, streaming; bad rows are reported, not fatal.

        ``rows`` come from :func:`jikimi.services.banks.rows.read_rows` (which
        numbers them by file line) or are plain dicts in the signal form
        (numbered by position). ``source`` is recorded on every new entry.
        Batches commit one by one (see the module docstring). Nothing records
        this import: :meth:`import_file` does, and can resume it.
        """
        require(principal, Permission.BANK_TRANSFER)
        _check_import(source, batch_size)
        with self.store.session() as s, s.begin():
            target = owned(s, principal, bank)
        tally = _Tally()
        self._run_import(target, rows, tally, source, batch_size, on_progress)
        return tally.report()

    def import_file(
        self,
        principal: Principal,
        bank: str,
        stream: IO[bytes],
        fmt: RowFormat | None = None,
        *,
        source: str | None = None,
        resume: str | bool = False,
        on_start: Callable[[BankImport], None] | None = None,
        on_progress: Progress | None = None,
        batch_size: int = IMPORT_BATCH,
    ) -> BankImport:
        """Import a file (from the stream's position to its end), recorded as an import.

        The record (:class:`~jikimi.domain.BankImport`: who, the file's SHA-256, its
        format, the counts) is written before the first row and updated in the
        transaction of each page, so an import cut short says how far it got (see
        :mod:`jikimi.services.imports`). ``fmt=None`` guesses the format from the
        content. ``resume`` continues an interrupted or failed import of the same
        file: its ``imp_…`` id, or ``True`` for the newest unfinished import of this
        file into this bank; the rows it counted are skipped and its counts carried
        on. ``on_start`` is told the record (its id) before the first row is read.
        The stream must be seekable (it is read twice: once for its SHA-256).
        Returns the finished record; an error marks it failed and propagates.
        """
        require(principal, Permission.BANK_TRANSFER)
        _check_import(source, batch_size)
        with self.store.session() as s, s.begin():
            target = owned(s, principal, bank)
        sha256, size = imports.file_digest(stream)
        owner = runner_id()
        lease_s = self.settings.import_lease_s if self.settings else imports.DEFAULT_LEASE_S
        until = now() + timedelta(seconds=lease_s)
        if resume:
            record = self._claim_resume(
                principal, target, resume, sha256, fmt, source, owner, until, lease_s
            )
            log.info(
                "import %s into bank %s resumed after %d rows (run %d)",
                record.id, target.name, record.rows, record.runs,
            )  # fmt: skip
        else:
            fmt = fmt or importing.guess_format(stream)
            with self.store.session(write=True) as s, s.begin():
                import_id = import_repo.create_import(
                    s,
                    tenant_id=principal.tenant_id,
                    bank_id=target.id,
                    key_id=principal.key_id,
                    file_sha256=sha256,
                    file_bytes=size,
                    fmt=fmt,
                    source=source,
                    owner=owner,
                    lease_until=until,
                    at=now(),
                )
                record = _found(import_repo.get_import(s, principal.tenant_id, import_id, now()))
            log.info(
                "import %s into bank %s started by key %s: %s file of %d bytes, SHA-256 %s",
                record.id, target.name, principal.key_id, record.format.value, size, sha256,
            )  # fmt: skip
        if on_start is not None:
            on_start(record)
        tally = _Tally.of(record)
        rows = importing.read_rows(stream, record.format)
        with closing(rows), imports.ImportLease(self.store, record.id, owner, lease_s) as lease:
            try:
                self._run_import(
                    target, rows, tally, record.source, batch_size, on_progress, lease, record.rows
                )
                with self.store.session(write=True) as s, s.begin():
                    lease.record(s, **tally.progress())
                    import_repo.finish(
                        s, record.id, owner, ImportState.DONE, failure=None, at=now()
                    )
            except Exception as exc:
                if isinstance(exc, JikimiError):
                    failure = ErrorInfo(code=exc.code, message=exc.message)
                    log.warning(
                        "import %s into bank %s failed: %s", record.id, target.name, failure
                    )
                else:  # its details are for the log, not for whoever reads the record
                    failure = ErrorInfo(
                        code=JikimiError.code,
                        message="an internal error stopped the import (the server log has it)",
                    )
                    log.exception("import %s into bank %s failed", record.id, target.name)
                self._end_run(record.id, owner, ImportState.FAILED, failure)
                raise
            except BaseException:  # Ctrl-C, or the process being stopped: resumable
                log.warning("import %s into bank %s was interrupted", record.id, target.name)
                self._end_run(record.id, owner, ImportState.INTERRUPTED, None)
                raise
        done = self.get_import(principal, record.id)
        log.info(
            "import %s into bank %s done: %d rows, %d added, %d duplicates, %d rejected",
            done.id, target.name, done.rows, done.added, done.duplicates, done.error_count,
        )  # fmt: skip
        return done

    def _claim_resume(
        self,
        principal: Principal,
        target: Bank,
        resume: str | bool,
        sha256: str,
        fmt: RowFormat | None,
        source: str | None,
        owner: str,
        until: datetime,
        lease_s: float,
    ) -> BankImport:
        """The import to resume, now held by ``owner``, after checking it is this file's."""
        at = now()
        with self.store.session(write=True) as s, s.begin():
            if isinstance(resume, str):
                found = import_repo.get_import(s, principal.tenant_id, resume, at)
                if found is None or found.bank_id != target.id:
                    raise NotFound(f"no import {resume[:40]!r} into bank {target.name}")
            else:
                found = import_repo.latest_unfinished(s, principal.tenant_id, target.id, sha256, at)
                if found is None:
                    raise NotFound(
                        f"no unfinished import of this file (SHA-256 {sha256}) into bank "
                        f"{target.name}: import it without resuming"
                    )
            if found.file_sha256 != sha256:
                raise ImportFileMismatch(
                    f"import {found.id} was of a file with SHA-256 {found.file_sha256} "
                    f"({found.file_bytes:,} bytes); this file's is {sha256}. "
                    "Resume with the same file."
                )
            if fmt is not None and fmt is not found.format:
                raise ImportFileMismatch(
                    f"import {found.id} reads the file as {found.format.value}, not {fmt.value}"
                )
            if source is not None and source != found.source:
                raise InvalidInput(
                    f"import {found.id} records the source {found.source!r} on its entries; "
                    "resume it without a source (or with the same one)"
                )
            if found.state is ImportState.DONE:
                raise ImportNotResumable(f"import {found.id} is done: there is nothing to resume")
            if found.state is ImportState.RUNNING:
                raise ImportNotResumable(
                    f"import {found.id} is still running in another process (if that process "
                    f"is gone, it shows as interrupted within {lease_s:g} s of its last sign "
                    "of life)"
                )
            if not import_repo.claim_resume(s, principal.tenant_id, found.id, owner, until, at):
                raise ImportNotResumable(f"import {found.id} was resumed by another process")
            return _found(import_repo.get_import(s, principal.tenant_id, found.id, at))

    def _end_run(
        self, import_id: str, owner: str, state: ImportState, failure: ErrorInfo | None
    ) -> None:
        """Mark this run's end; never raises (the import's own error matters more)."""
        try:
            with self.store.session(write=True) as s, s.begin():
                import_repo.finish(s, import_id, owner, state, failure=failure, at=now())
        except Exception:  # the lease lapses on its own: the import then reads as interrupted
            log.exception("could not record the end of import %s", import_id)

    def get_import(self, principal: Principal, import_id: str) -> BankImport:
        """One of the caller's tenant's imports (another tenant's is :class:`NotFound`)."""
        require(principal, Permission.BANK_TRANSFER)
        with self.store.session() as s, s.begin():
            found = import_repo.get_import(s, principal.tenant_id, import_id, now())
        if found is None:
            raise NotFound(f"no import {import_id[:40]!r}")
        return found

    def list_imports(
        self, principal: Principal, bank: str, limit: int = DEFAULT_PAGE
    ) -> builtins.list[BankImport]:
        """The caller's tenant's imports into a bank, newest first (at most ``limit``)."""
        require(principal, Permission.BANK_TRANSFER)
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
        with self.store.session() as s, s.begin():
            target = visible(s, principal, bank).bank
            return import_repo.list_imports(s, principal.tenant_id, target.id, now(), limit)

    def recover_imports(self) -> builtins.list[BankImport]:
        """Write down as interrupted the imports whose process died (their lease lapsed),
        and log each with how far it got. Readers see them as interrupted anyway; this
        is the server's note of it (called at start-up)."""
        with self.store.session(write=True) as s, s.begin():
            lapsed = import_repo.mark_interrupted(s, now())
        for found in lapsed:
            log.warning(
                "import %s into bank %s was interrupted after %d rows (%d added, %d duplicates, "
                "%d rejected); resume it with the same file",
                found.id, found.bank, found.rows, found.added, found.duplicates, found.error_count,
            )  # fmt: skip
        return lapsed

    def _run_import(
        self,
        target: Bank,
        rows: Iterable[ImportRow | RowError | Mapping[str, Any]],
        tally: _Tally,
        source: str | None,
        batch_size: int,
        on_progress: Progress | None,
        lease: imports.ImportLease | None = None,
        skip: int = 0,
    ) -> None:
        """Read, check and commit ``rows`` after the first ``skip`` (already in ``tally``),
        writing the progress with each page when ``lease`` says which import it is."""
        batch: builtins.list[NewEntry] = []
        # On PostgreSQL a batch is written in a second thread while the next one is
        # read (the server's share of an import is the larger; its thread waits on a
        # socket without the GIL). Not on SQLite: its writes are in-process Python
        # calls that would fight the reading thread for the GIL row by row.
        with InOrderWriter(background=self.store.dialect == "postgresql") as writer:
            page = _Page(writer, target, source, tally, on_progress, lease)
            for position, item in enumerate(rows, 1):
                if position <= skip:
                    continue
                tally.rows += 1
                row = importing.as_import_row(position, item)
                checked = row if isinstance(row, RowError) else importing.check_row(row)
                if isinstance(checked, RowError):
                    tally.error(checked)
                elif holds_frames(checked[0]):
                    # A video is written alone, after the rows before it (file order).
                    if batch:
                        self._submit_batch(page, batch, tally.rows - 1)
                        batch = []
                    self._submit_video(page, row.line, checked)
                else:
                    batch.append(NewEntry(*checked))
                    if len(batch) >= batch_size:
                        self._submit_batch(page, batch)
                        batch = []
            self._submit_batch(page, batch)

    def _submit_batch(
        self, page: _Page, batch: Sequence[NewEntry], rows_read: int | None = None
    ) -> None:
        """Commit ``batch`` (through the page's writer), then count it, notify and report
        progress (``rows_read``, by default every row read so far)."""
        bank = page.bank
        progress = page.snapshot(rows_read)

        def write() -> tuple[int, builtins.list[Change]]:
            if not batch:
                return 0, []
            try:
                with self.store.session(write=True) as s, s.begin():
                    added, changes = entry_repo.insert_entries(
                        s,
                        bank.id,
                        batch,
                        source=page.source,
                        at=now(),
                        want_changes=self.listener is not None,
                    )
                    page.record(s, progress, added, len(batch))
                    return added, changes
            except IntegrityError:  # the bank was deleted while we were importing
                raise NotFound(f"bank {bank.name} no longer exists") from None

        self._submit(page, write, len(batch), progress.rows_done)

    def _submit_video(
        self, page: _Page, line: int, checked: tuple[SignalKind, str, dict[str, Any]]
    ) -> None:
        """Commit one checked ``vpdq`` row as :meth:`add_entry` adds a video (its frames in
        the same transaction); a bad video is a row error, one already in the bank (even
        withdrawn) a duplicate, as in a batch."""
        from jikimi.signals.vpdq import parse_vpdq

        bank = page.bank
        _, text, metadata = checked  # the canonical lines (check_row)
        try:
            video = video_entry(parse_vpdq(text))
        except (InvalidHash, InvalidInput) as exc:
            page.tally.error(
                RowError(line=line, code=RowErrorCode.INVALID_HASH, message=exc.message)
            )
            return
        meta = EntryMeta(source=page.source, metadata=metadata)
        progress = page.snapshot(None)

        def write() -> tuple[int, builtins.list[Change]]:
            try:
                with self.store.session(write=True) as s, s.begin():
                    if _find_video(s, bank, video.value) is not None:
                        page.record(s, progress, 0, 1)
                        return 0, []
                    _, change = entry_repo.add_entry(
                        s,
                        bank_id=bank.id,
                        bank_name=bank.name,
                        signal=video.signal,
                        value=video.value,
                        meta=meta,
                        media_sha256=None,
                        at=now(),
                    )
                    video_repo.add_frames(s, change.seq, video.frames)
                    page.record(s, progress, 1, 1)
            except Conflict:  # added meanwhile by another writer, or the bank was deleted
                with self.store.session() as s, s.begin():
                    if _find_video(s, bank, video.value) is not None:
                        return 0, []
                raise NotFound(f"bank {bank.name} no longer exists") from None
            return 1, [change]

        self._submit(page, write, 1, progress.rows_done)

    def _submit(
        self,
        page: _Page,
        write: Callable[[], tuple[int, builtins.list[Change]]],
        size: int,
        rows_read: int,
    ) -> None:
        """Run ``write`` of ``size`` rows through the writer; once it has committed, count
        what it added (the rest were duplicates), notify and report progress."""
        tally, on_progress = page.tally, page.on_progress

        def done(result: tuple[int, builtins.list[Change]]) -> None:
            added, changes = result
            tally.added += added
            tally.duplicates += size - added
            self._entries_changed(changes)
            if on_progress is not None:
                on_progress(rows_read)

        page.writer.submit(write, done)

    def export(self, principal: Principal, bank: str, fmt: RowFormat) -> Iterator[str]:
        """The bank's active entries as text chunks in ``fmt``, read page by page.

        Permission and visibility are checked now (errors raise here, not while
        streaming); the pages are read lazily, each in its own short transaction.
        """
        require(principal, Permission.BANK_TRANSFER)
        with self.store.session() as s, s.begin():
            target = visible(s, principal, bank).bank
        return importing.write_rows(self._active_pages(target), fmt)

    def _active_pages(self, bank: Bank) -> Iterator[builtins.list[importing.Exportable]]:
        """Pages of active entries in ``seq`` order; vPDQ entries as their frames
        (:func:`~jikimi.services.banks.rows.video_row`), read in the page's transaction.

        A page holds at most :data:`EXPORT_VIDEOS` videos, so that a bank of long
        videos is not read into memory twenty thousand videos at a time. After a
        page cut short by its videos the next one reads about twice what was kept
        (a bank of videos is not read 20,000 rows at a time to keep 100); pages
        that were not cut grow back to :data:`IMPORT_BATCH`.
        """
        after, limit = 0, IMPORT_BATCH
        while True:
            with self.store.session() as s, s.begin():
                read = entry_repo.list_entries(
                    s,
                    bank.id,
                    bank.name,
                    after_seq=after,
                    limit=limit,
                    status=EntryStatus.ACTIVE,
                )
                rows = _up_to_videos(read, EXPORT_VIDEOS)
                videos = [seq for seq, e in rows if holds_frames(e.signal)]
                frames = video_repo.frames_of(s, videos) if videos else {}
            if not rows:
                return
            after = rows[-1][0]
            cut = len(rows) < len(read)
            limit = min(IMPORT_BATCH, max(EXPORT_VIDEOS + 1, 2 * (len(rows) if cut else limit)))
            yield [
                e if not holds_frames(e.signal) else _video_row(e, seq, frames) for seq, e in rows
            ]


class _Tally:
    """Counts of an import in progress."""

    def __init__(self) -> None:
        self.rows = 0
        self.added = 0
        self.duplicates = 0
        self.error_count = 0
        self.errors: builtins.list[RowError] = []

    def error(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(error)

    @classmethod
    def of(cls, record: BankImport) -> _Tally:
        """The counts a resumed import goes on from."""
        tally = cls()
        tally.rows = record.rows
        tally.added = record.added
        tally.duplicates = record.duplicates
        tally.error_count = record.error_count
        tally.errors = builtins.list(record.errors)
        return tally

    def progress(self) -> dict[str, Any]:
        """The counts as :meth:`ImportLease.record` takes them (the end of a run)."""
        return {
            "rows_done": self.rows,
            "added": self.added,
            "duplicates": self.duplicates,
            "error_count": self.error_count,
            "errors": tuple(self.errors),
        }

    def report(self) -> ImportReport:
        return ImportReport(
            rows=self.rows,
            added=self.added,
            duplicates=self.duplicates,
            error_count=self.error_count,
            errors=tuple(self.errors),
        )


class _Progress(NamedTuple):
    """What a page's commit records: the rows read up to its end, and the rejected rows
    among them (taken when the page is submitted: the reader goes on meanwhile)."""

    rows_done: int
    error_count: int
    errors: tuple[RowError, ...]


class _Page:
    """What every page of one import run shares: where it goes, its counts, its record."""

    def __init__(
        self,
        writer: InOrderWriter,
        bank: Bank,
        source: str | None,
        tally: _Tally,
        on_progress: Progress | None,
        lease: imports.ImportLease | None,
    ) -> None:
        self.writer = writer
        self.bank = bank
        self.source = source
        self.tally = tally
        self.on_progress = on_progress
        self.lease = lease

    def snapshot(self, rows_read: int | None) -> _Progress:
        t = self.tally
        errors = tuple(t.errors) if self.lease is not None else ()
        return _Progress(t.rows if rows_read is None else rows_read, t.error_count, errors)

    def record(self, s: Session, progress: _Progress, added: int, size: int) -> None:
        """Write the import's progress in the page's transaction ``s`` (if it is recorded).

        Runs in the writer's thread: the tally's added/duplicates are those of the pages
        before (each page's ``done`` runs before the next page is submitted).
        """
        if self.lease is None:
            return
        self.lease.record(
            s,
            rows_done=progress.rows_done,
            added=self.tally.added + added,
            duplicates=self.tally.duplicates + size - added,
            error_count=progress.error_count,
            errors=progress.errors,
        )


def _find_video(s: Session, bank: Bank, value: str) -> Entry | None:
    """The bank's vPDQ entry with this value, whatever its status (withdrawn too)."""
    return entry_repo.find_entry_by_value(s, bank.id, bank.name, SignalKind.VPDQ, value)


def _up_to_videos(
    rows: builtins.list[tuple[int, Entry]], most: int
) -> builtins.list[tuple[int, Entry]]:
    """``rows`` up to (not including) the video after the ``most``-th one."""
    seen = 0
    for i, (_, entry) in enumerate(rows):
        if holds_frames(entry.signal):
            seen += 1
            if seen > most:
                return rows[:i]
    return rows


def _video_row(
    entry: Entry, seq: int, frames: Mapping[int, Sequence[FrameHash]]
) -> importing.ExportRow:
    """A vPDQ entry as exported: its stored frames, in ThreatExchange's form."""
    if seq not in frames:  # they are written with the entry, and deleted only with the bank
        raise RuntimeError(f"the vpdq entry {entry.id} of bank {entry.bank} has no frames")
    return importing.video_row(entry, frames[seq])


def _check_import(source: str | None, batch_size: int) -> None:
    if batch_size < 1:
        raise InvalidInput("batch_size must be positive")
    if source is not None:
        limits.check("source", source)


def _found(record: BankImport | None) -> BankImport:
    """An import read back in the transaction that wrote it: it is there."""
    assert record is not None
    return record

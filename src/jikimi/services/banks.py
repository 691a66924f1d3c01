"""Banks and their entries: the service behind ``/v1/banks`` and ``jikimi bank …``.

Every method takes the caller's :class:`~jikimi.domain.Principal` first and
checks, in this order: the role's permission (:class:`Forbidden`), that the
bank is visible to the caller's tenant (:class:`NotFound` otherwise, so other
tenants' bank names never leak), and for changes, that the caller's tenant
owns it (a bank shared with it is read-only: :class:`Forbidden`).

Each call is one transaction, except imports, which commit every batch of
~20,000 rows (and each ``vpdq`` row, a whole video, alone and in file order):
a crash loses at most the batch in flight, never half of one,
and importing the same file again is safe (rows already there are counted as
duplicates). :meth:`BankService.import_file` also records the import, its progress
written in each batch's transaction, so one cut short shows as interrupted with how
far it got and can be resumed (see :mod:`jikimi.services.imports`). After each
commit the optional :class:`BankListener` (the matching service) hears about the
entries that started or stopped matching, so a withdrawn hash stops matching in
this process at once; other processes follow the change log (see
:mod:`jikimi.store.entries`).
"""

from __future__ import annotations

import base64
import binascii
import builtins
import itertools
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jikimi.config import Settings
from jikimi.domain import (
    BANK_NAME_RE,
    BANK_SIGNALS,
    MAX_PDQ_THRESHOLD,
    MAX_REPORTED_ERRORS,
    Bank,
    BankCreate,
    BankImport,
    BankUpdate,
    Change,
    Entry,
    EntryCreate,
    EntryMeta,
    EntryPage,
    EntryStatus,
    ImportReport,
    ImportRow,
    ImportState,
    Permission,
    Principal,
    RowError,
    RowErrorCode,
    RowFormat,
)
from jikimi.errors import (
    Conflict,
    Forbidden,
    ImportFileMismatch,
    ImportNotResumable,
    InvalidHash,
    InvalidInput,
    JikimiError,
    NotFound,
    UnsupportedMedia,
)
from jikimi.matching.kinds import holds_frames
from jikimi.model import ErrorInfo, MediaKind, SignalKind
from jikimi.services import importing, imports
from jikimi.services._common import now, require
from jikimi.services._writer import InOrderWriter
from jikimi.store import Store
from jikimi.store import banks as bank_repo
from jikimi.store import entries as entry_repo
from jikimi.store import imports as import_repo
from jikimi.store import tenants as tenant_repo
from jikimi.store import video as video_repo
from jikimi.store.banks import BankAccess
from jikimi.store.entries import NewEntry

if TYPE_CHECKING:
    from jikimi.media import MediaLimits
    from jikimi.signals.vpdq import FrameHash

log = logging.getLogger(__name__)

IMPORT_BATCH = 20_000
EXPORT_VIDEOS = 100
"""Most vPDQ entries in one page of an export: their frames are read with the page (an
hour of video at one hash a second is 3,600 frames)."""
DEFAULT_PAGE = 100
MAX_PAGE = 1_000
MAX_LABELS = 32
MAX_SOURCE_CHARS = 2_048
MAX_NOTE_CHARS = 8_192
MAX_VIDEO_FRAMES = 200_000
"""Most frame hashes in one vPDQ entry: 55 hours at vPDQ's one a second, or nearly two
hours of a hash file that lists every frame of a 30 fps video (as the reference can)."""
_LABEL_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

Progress = Callable[[int], None]
"""Called with the number of rows read so far, after each committed batch."""


class BankListener(Protocol):
    """Told about committed changes (the matching service implements this).

    Called after the transaction commits, in the caller's thread; it must not
    raise (an exception is logged and swallowed: the change is already durable,
    and the change log lets the listener catch up).
    """

    def entries_changed(self, changes: Sequence[Change]) -> None:
        """Entries started (``add``) or stopped (``remove``) matching."""

    def banks_changed(self, bank_ids: Sequence[str]) -> None:
        """A bank was created, updated (kind, threshold, enabled, ...), shared or deleted."""


class BankService:
    """Create, read, change, share and delete banks; add, list, withdraw, import, export entries."""

    def __init__(
        self,
        store: Store,
        *,
        settings: Settings | None = None,
        listener: BankListener | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.listener = listener

    # --- banks ----------------------------------------------------------------

    def create(self, principal: Principal, spec: BankCreate) -> Bank:
        require(principal, Permission.BANK_WRITE)
        _check_name(spec.name)
        _check_threshold(spec.pdq_threshold)
        _check_shares(spec.vpdq_query_pct, spec.vpdq_index_pct)
        spec = spec.model_copy(update={"labels": _check_labels(spec.labels)})
        with self.store.session(write=True) as s, s.begin():
            bank = bank_repo.create_bank(s, principal.tenant_id, spec, now())
        self._banks_changed([bank.id])
        return bank

    def get(self, principal: Principal, name: str) -> Bank:
        """A bank by name (own first, then shared with the caller) or by ``bnk_`` id."""
        require(principal, Permission.BANK_READ)
        with self.store.session() as s, s.begin():
            return _visible(s, principal, name).bank

    def list(self, principal: Principal) -> builtins.list[Bank]:
        """The caller's banks, then those shared with it."""
        require(principal, Permission.BANK_READ)
        with self.store.session() as s, s.begin():
            return [a.bank for a in bank_repo.list_visible_banks(s, principal.tenant_id)]

    def update(self, principal: Principal, name: str, update: BankUpdate) -> Bank:
        require(principal, Permission.BANK_WRITE)
        if update.pdq_threshold is not None:
            _check_threshold(update.pdq_threshold)
        _check_shares(update.vpdq_query_pct, update.vpdq_index_pct)
        if update.labels is not None:
            update = update.model_copy(update={"labels": _check_labels(update.labels)})
        with self.store.session(write=True) as s, s.begin():
            bank = _owned(s, principal, name)
            updated = bank_repo.update_bank(s, bank.id, update, now())
        self._banks_changed([updated.id])
        return updated

    def delete(self, principal: Principal, name: str) -> None:
        """Delete the bank and all its entries; they stop matching at once."""
        require(principal, Permission.BANK_WRITE)
        with self.store.session(write=True) as s, s.begin():
            bank = _owned(s, principal, name)
            entry_repo.record_bank_removal(s, bank.id, now())
            bank_repo.delete_bank(s, bank.id)
        self._banks_changed([bank.id])

    def share(self, principal: Principal, name: str, tenant_name: str) -> Bank:
        """Let another tenant see this bank (read-only) and match against it."""
        return self._set_share(principal, name, tenant_name, shared=True)

    def unshare(self, principal: Principal, name: str, tenant_name: str) -> Bank:
        """Stop sharing with a tenant (no error if it was not shared)."""
        return self._set_share(principal, name, tenant_name, shared=False)

    def _set_share(self, principal: Principal, name: str, tenant_name: str, shared: bool) -> Bank:
        require(principal, Permission.BANK_WRITE)
        with self.store.session(write=True) as s, s.begin():
            bank = _owned(s, principal, name)
            tenant = tenant_repo.get_tenant_by_name(s, tenant_name)
            if tenant is None:
                raise NotFound(f"no tenant named {tenant_name!r}")
            if tenant.id == principal.tenant_id:
                raise InvalidInput("a bank is always visible to its own tenant")
            if shared:
                bank_repo.add_share(s, bank.id, tenant.id, now())
            else:
                bank_repo.remove_share(s, bank.id, tenant.id)
            result = bank_repo.get_bank(s, bank.id)
        assert result is not None  # same transaction as _owned()
        self._banks_changed([bank.id])
        return result

    # --- entries --------------------------------------------------------------

    def add_entry(self, principal: Principal, bank: str, entry: EntryCreate) -> Entry:
        """Add one hash; :class:`Conflict` if the bank has it (or had it, withdrawn).

        A ``vpdq`` value is a whole vPDQ hash file (see :meth:`add_vpdq_entry`).
        """
        require(principal, Permission.BANK_WRITE)
        if entry.signal not in BANK_SIGNALS:
            raise InvalidInput(f"a bank cannot hold {entry.signal.value} hashes")
        if holds_frames(entry.signal):
            video = _video_entry(_parse_vpdq_file(entry.value))
            meta = _check_meta(entry)
            return self._add(principal, bank, video.signal, video.value, meta, None, video.frames)
        value = importing.validate_hash(entry.signal, entry.value)
        meta = _check_meta(entry)
        return self._add(principal, bank, entry.signal, value, meta, media_sha256=None)

    def add_entries(self, principal: Principal, bank: str, entries: Sequence[EntryCreate]) -> int:
        """Add several hashes in one transaction, with one matcher update; how many went in.

        Hashes the bank holds (or held, withdrawn) are skipped, not an error: this is
        how a service files what it found (a removed item's hashes into its case's
        takedown bank), where "already there" is the goal reached. Each entry keeps
        its metadata (the note is not kept: put what matters in the metadata). Not
        for ``vpdq``.
        """
        require(principal, Permission.BANK_WRITE)
        rows = []
        for entry in entries:
            if entry.signal not in BANK_SIGNALS or holds_frames(entry.signal):
                raise InvalidInput(f"add_entries takes image hashes, not {entry.signal.value}")
            value = importing.validate_hash(entry.signal, entry.value)
            rows.append(NewEntry(entry.signal, value, dict(_check_meta(entry).metadata)))
        with self.store.session(write=True) as s, s.begin():
            target = _owned(s, principal, bank)
            added, changes = entry_repo.insert_entries(
                s, target.id, rows, source=principal.key_id, at=now()
            )
        self._entries_changed(changes)
        return added

    def add_vpdq_entry(
        self, principal: Principal, bank: str, text: str, meta: EntryMeta | None = None
    ) -> Entry:
        """Add a video by its vPDQ hash file: ``frame,quality,pdq_hex,timestamp`` lines,
        as Meta's ``vpdq`` and jikimi write them (:class:`InvalidHash` names a bad line).

        The entry's ``value`` is the video's identity (:func:`~jikimi.signals.vpdq.
        video_identity`: the SHA-256 of its frames' hashes, qualities and timestamps
        to the millisecond, in frame order, without the frame numbers): the same video
        hashed the same way is the same entry, however its frames were numbered. Its
        frames are stored with it and matched as vPDQ.
        """
        fields = (meta or EntryMeta()).model_dump()
        return self.add_entry(
            principal, bank, EntryCreate(signal=SignalKind.VPDQ, value=text, **fields)
        )

    def add_media_entry(
        self, principal: Principal, bank: str, data: bytes, meta: EntryMeta | None = None
    ) -> Entry:
        """Hash an uploaded image (PDQ) or video (vPDQ, also an animated GIF or WebP, as
        scans treat them) and add it; the file is kept only if the bank keeps evidence
        (in the blob store, by SHA-256), otherwise only its hashes are.

        The entry's ``media_sha256`` names the file either way, so a later upload
        of the same file can be recognised.
        """
        require(principal, Permission.BANK_WRITE)
        checked = _check_meta(meta or EntryMeta())
        with self.store.session() as s, s.begin():
            target = _owned(s, principal, bank)  # fail before the expensive decode
        hashed = self._hash_media(data)
        if target.keep_evidence:
            self.store.blobs.put(data)  # before the row: a crash leaves a harmless orphan blob
        return self._add(
            principal,
            bank,
            hashed.signal,
            hashed.value,
            checked,
            hashed.media_sha256,
            hashed.frames,
        )

    def _hash_media(self, data: bytes) -> _Hashed:
        # Imported here: decoding pulls in Pillow/pdqhash (and PyAV), which only this path needs.
        from jikimi.media import load, sniff
        from jikimi.media.sniff import FileFormat
        from jikimi.pipeline_video import is_animation
        from jikimi.signals import PdqSignal

        sniffed = sniff(data)
        if sniffed.kind is MediaKind.VIDEO:
            return self._hash_video(data)
        if sniffed.format is FileFormat.TEXT:
            raise UnsupportedMedia(
                "This is a text file, not an image or a video; "
                "a vPDQ hash file is added as a vpdq hash, not as media."
            )
        picture = load(data, self._media_limits())
        if is_animation(picture):
            return self._hash_video(data)
        pdq = PdqSignal.hash_picture(picture).value
        return _Hashed(SignalKind.PDQ, pdq, picture.media.sha256, ())

    def _hash_video(self, data: bytes) -> _Hashed:
        from jikimi.media.video import VideoLimits, load_video
        from jikimi.signals.vpdq import hash_video

        limits = VideoLimits.from_settings(self.settings) if self.settings else VideoLimits()
        hashed = hash_video(load_video(data, limits))
        video = _video_entry(hashed.frames)
        return video._replace(media_sha256=hashed.sha256)

    def _media_limits(self) -> MediaLimits:
        from jikimi.media import MediaLimits

        if self.settings is not None:
            return MediaLimits.from_settings(self.settings)
        fields = Settings.model_fields  # the documented defaults, without reading the environment
        return MediaLimits(
            max_bytes=fields["max_bytes"].default,
            max_pixels=fields["max_pixels"].default,
            max_dimension=fields["max_dimension"].default,
        )

    def _add(
        self,
        principal: Principal,
        bank: str,
        signal: SignalKind,
        value: str,
        meta: EntryMeta,
        media_sha256: str | None,
        frames: Sequence[FrameHash] = (),
    ) -> Entry:
        """Insert the entry (and a video's frames, in the same transaction)."""
        with self.store.session(write=True) as s, s.begin():
            target = _owned(s, principal, bank)
            existing = entry_repo.find_entry_by_value(s, target.id, target.name, signal, value)
            if existing is not None:
                if existing.status == EntryStatus.WITHDRAWN:
                    raise Conflict(
                        f"this {signal.value} hash was withdrawn from bank {target.name}; "
                        "withdrawal is final"
                    )
                raise Conflict(
                    f"this {signal.value} hash is already in bank {target.name} as {existing.id}"
                )
            entry, change = entry_repo.add_entry(
                s,
                bank_id=target.id,
                bank_name=target.name,
                signal=signal,
                value=value,
                meta=meta,
                media_sha256=media_sha256,
                at=now(),
            )
            video_repo.add_frames(s, change.seq, frames)
        self._entries_changed([change])
        return entry

    def get_entry(self, principal: Principal, bank: str, entry_id: str) -> Entry:
        """An entry that is not withdrawn (withdrawn entries are :class:`NotFound`)."""
        require(principal, Permission.BANK_READ)
        with self.store.session() as s, s.begin():
            target = _visible(s, principal, bank).bank
            entry = entry_repo.get_entry(s, target.id, target.name, entry_id)
        if entry is None:
            raise NotFound(f"no entry {entry_id} in bank {target.name}")
        return entry

    def list_entries(
        self,
        principal: Principal,
        bank: str,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE,
        *,
        status: EntryStatus | None = None,
    ) -> EntryPage:
        """Entries in the order they were added, ``limit`` (1..1000) at a time.

        ``status`` filters to active or disabled entries; withdrawn entries are
        never listed.
        """
        require(principal, Permission.BANK_READ)
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
        if status == EntryStatus.WITHDRAWN:
            raise InvalidInput("withdrawn entries are never listed")
        after = _decode_cursor(cursor)
        with self.store.session() as s, s.begin():
            target = _visible(s, principal, bank).bank
            rows = entry_repo.list_entries(
                s, target.id, target.name, after_seq=after, limit=limit + 1, status=status
            )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode_cursor(rows[-1][0]) if more else None
        return EntryPage(entries=tuple(e for _, e in rows), next_cursor=next_cursor)

    def set_status(
        self, principal: Principal, bank: str, entry_id: str, status: EntryStatus
    ) -> Entry:
        """Disable, enable or withdraw an entry. Withdrawal is final: afterwards the
        entry is :class:`NotFound` everywhere and never matches again."""
        require(principal, Permission.BANK_WRITE)
        with self.store.session(write=True) as s, s.begin():
            target = _owned(s, principal, bank)
            result = entry_repo.set_entry_status(s, target.id, target.name, entry_id, status, now())
        if result is None:
            raise NotFound(f"no entry {entry_id} in bank {target.name}")
        entry, change = result
        if change is not None:
            self._entries_changed([change])
        return entry

    # --- import and export ----------------------------------------------------

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

        ``rows`` come from :func:`jikimi.services.importing.read_rows` (which
        numbers them by file line) or are plain dicts in the signal form
        (numbered by position). ``source`` is recorded on every new entry.
        Batches commit one by one (see the module docstring). Nothing records
        this import: :meth:`import_file` does, and can resume it.
        """
        require(principal, Permission.BANK_TRANSFER)
        _check_import(source, batch_size)
        with self.store.session() as s, s.begin():
            target = _owned(s, principal, bank)
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
            target = _owned(s, principal, bank)
        sha256, size = imports.file_digest(stream)
        owner = imports.owner_id()
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
            target = _visible(s, principal, bank).bank
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
            video = _video_entry(parse_vpdq(text))
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
            target = _visible(s, principal, bank).bank
        return importing.write_rows(self._active_pages(target), fmt)

    def _active_pages(self, bank: Bank) -> Iterator[builtins.list[importing.Exportable]]:
        """Pages of active entries in ``seq`` order; vPDQ entries as their frames
        (:func:`~jikimi.services.importing.video_row`), read in the page's transaction.

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

    # --- notifications --------------------------------------------------------

    def _entries_changed(self, changes: Sequence[Change]) -> None:
        if self.listener is not None and changes:
            try:
                self.listener.entries_changed(changes)
            except Exception:
                log.exception("bank listener failed on %d entry changes", len(changes))

    def _banks_changed(self, bank_ids: Sequence[str]) -> None:
        if self.listener is not None:
            try:
                self.listener.banks_changed(bank_ids)
            except Exception:
                log.exception("bank listener failed on bank change %s", bank_ids)


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


class _Hashed(NamedTuple):
    """What an entry is made of: its signal and value, the media it came from, and for
    a video its frame hashes (stored beside the entry)."""

    signal: SignalKind
    value: str
    media_sha256: str | None
    frames: Sequence[FrameHash]


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


def _parse_vpdq_file(text: str) -> list[FrameHash]:
    """The frames of a vPDQ hash file (lines or ThreatExchange's JSON form);
    :class:`InvalidHash` names a bad line or element."""
    from jikimi.signals.vpdq import VpdqSignal, parse_vpdq

    return parse_vpdq(VpdqSignal.validate(text))


def _video_entry(frames: Sequence[FrameHash]) -> _Hashed:
    """A vPDQ entry: its frames in frame order, timestamps to the millisecond (as its
    text says), and its value, :func:`~jikimi.signals.vpdq.video_identity`.

    Refused: a frame number listed twice (the frames' key), more than
    :data:`MAX_VIDEO_FRAMES` frames, and videos with no frame of PDQ quality 50 or
    more: vPDQ ignores those frames, so such an entry could never match.
    """
    from jikimi.matching.vpdq_index import VPDQ_QUALITY_MIN
    from jikimi.signals.vpdq import format_vpdq, parse_vpdq, video_identity

    if len(frames) > MAX_VIDEO_FRAMES:
        raise InvalidInput(
            f"the video has {len(frames):,} frame hashes; a bank entry holds at most "
            f"{MAX_VIDEO_FRAMES:,}"
        )
    ordered = sorted(frames, key=lambda f: f.frame)
    for before, after in itertools.pairwise(ordered):
        if before.frame == after.frame:
            raise InvalidHash(f"not a valid vpdq hash file: frame {after.frame} is listed twice")
    if not any(f.quality >= VPDQ_QUALITY_MIN for f in ordered):
        raise InvalidInput(
            f"none of the video's {len(ordered)} frame hashes has a PDQ quality of "
            f"{VPDQ_QUALITY_MIN} or more (nearly flat pictures); vPDQ ignores such frames, "
            "so this video could never match"
        )
    frames = parse_vpdq(format_vpdq(ordered))  # timestamps to the millisecond, as stored
    return _Hashed(SignalKind.VPDQ, video_identity(frames), None, frames)


# --- lookups and checks -------------------------------------------------------------


def _check_import(source: str | None, batch_size: int) -> None:
    if batch_size < 1:
        raise InvalidInput("batch_size must be positive")
    if source is not None and len(source) > MAX_SOURCE_CHARS:
        raise InvalidInput(f"source is at most {MAX_SOURCE_CHARS} characters")


def _found(record: BankImport | None) -> BankImport:
    """An import read back in the transaction that wrote it: it is there."""
    assert record is not None
    return record


def _visible(s: Session, principal: Principal, ref: str) -> BankAccess:
    access = bank_repo.resolve_bank(s, principal.tenant_id, ref)
    if access is None:
        raise NotFound(f"no bank {ref!r}")
    return access


def _owned(s: Session, principal: Principal, ref: str) -> Bank:
    access = _visible(s, principal, ref)
    if not access.owned:
        raise Forbidden(f"bank {access.bank.name} is shared with you read-only")
    return access.bank


def _check_name(name: str) -> None:
    if not BANK_NAME_RE.match(name):
        raise InvalidInput(
            "a bank name is 2 to 64 characters: uppercase letters, digits and '_' "
            "(e.g. KCSC_TAKEDOWNS)"
        )


def _check_threshold(threshold: int) -> None:
    if not 0 <= threshold <= MAX_PDQ_THRESHOLD:
        raise InvalidInput(f"pdq_threshold must be between 0 and {MAX_PDQ_THRESHOLD} bits")


def _check_shares(query_pct: int | None, index_pct: int | None) -> None:
    for name, pct in (("vpdq_query_pct", query_pct), ("vpdq_index_pct", index_pct)):
        if pct is not None and not 0 <= pct <= 100:
            raise InvalidInput(f"{name} must be a percentage between 0 and 100")


def _check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    unique = tuple(dict.fromkeys(labels))
    if len(unique) > MAX_LABELS:
        raise InvalidInput(f"at most {MAX_LABELS} labels")
    for label in unique:
        if not _LABEL_RE.match(label):
            raise InvalidInput(
                f"label {label[:70]!r}: 1 to 64 letters, digits or '_', '.', ':', '-'"
            )
    return unique


def _check_meta(meta: EntryMeta) -> EntryMeta:
    if meta.source is not None and len(meta.source) > MAX_SOURCE_CHARS:
        raise InvalidInput(f"source is at most {MAX_SOURCE_CHARS} characters")
    if meta.note is not None and len(meta.note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"note is at most {MAX_NOTE_CHARS} characters")
    metadata = importing.check_metadata(meta.metadata)
    if isinstance(metadata, str):
        raise InvalidInput(metadata)
    return EntryMeta(source=meta.source, note=meta.note, metadata=metadata)


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"e{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not text.startswith("e"):
            raise ValueError(text)
        seq = int(text[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("invalid cursor: pass back next_cursor unchanged") from None
    if seq < 0:
        raise InvalidInput("invalid cursor: pass back next_cursor unchanged")
    return seq

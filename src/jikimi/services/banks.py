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
duplicates). After each commit the optional :class:`BankListener` (the
matching service) hears about the entries that started or stopped matching,
so a withdrawn hash stops matching in this process at once; other processes
follow the change log (see :mod:`jikimi.store.entries`).
"""

from __future__ import annotations

import base64
import binascii
import builtins
import itertools
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

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
    BankUpdate,
    Change,
    Entry,
    EntryCreate,
    EntryMeta,
    EntryPage,
    EntryStatus,
    ImportReport,
    ImportRow,
    Permission,
    Principal,
    RowError,
    RowErrorCode,
    RowFormat,
)
from jikimi.errors import (
    Conflict,
    Forbidden,
    InvalidHash,
    InvalidInput,
    NotFound,
    UnsupportedMedia,
)
from jikimi.matching.kinds import holds_frames
from jikimi.model import MediaKind, SignalKind
from jikimi.services import importing
from jikimi.services._common import now, require
from jikimi.services._writer import InOrderWriter
from jikimi.store import Store
from jikimi.store import banks as bank_repo
from jikimi.store import entries as entry_repo
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
        Batches commit one by one (see the module docstring).
        """
        require(principal, Permission.BANK_TRANSFER)
        if batch_size < 1:
            raise InvalidInput("batch_size must be positive")
        if source is not None and len(source) > MAX_SOURCE_CHARS:
            raise InvalidInput(f"source is at most {MAX_SOURCE_CHARS} characters")
        with self.store.session() as s, s.begin():
            target = _owned(s, principal, bank)
        tally = _Tally()
        batch: builtins.list[NewEntry] = []
        # On PostgreSQL a batch is written in a second thread while the next one is
        # read (the server's share of an import is the larger; its thread waits on a
        # socket without the GIL). Not on SQLite: its writes are in-process Python
        # calls that would fight the reading thread for the GIL row by row.
        with InOrderWriter(background=self.store.dialect == "postgresql") as writer:
            for position, item in enumerate(rows, 1):
                tally.rows += 1
                row = importing.as_import_row(position, item)
                checked = row if isinstance(row, RowError) else importing.check_row(row)
                if isinstance(checked, RowError):
                    tally.error(checked)
                elif holds_frames(checked[0]):
                    # A video is written alone, after the rows before it (file order).
                    if batch:
                        self._submit_batch(
                            writer, target, batch, source, tally, on_progress, tally.rows - 1
                        )
                        batch = []
                    self._submit_video(
                        writer, target, row.line, checked, source, tally, on_progress
                    )
                else:
                    batch.append(NewEntry(*checked))
                    if len(batch) >= batch_size:
                        self._submit_batch(writer, target, batch, source, tally, on_progress)
                        batch = []
            self._submit_batch(writer, target, batch, source, tally, on_progress)
        return tally.report()

    def _submit_batch(
        self,
        writer: InOrderWriter,
        bank: Bank,
        batch: Sequence[NewEntry],
        source: str | None,
        tally: _Tally,
        on_progress: Progress | None,
        rows_read: int | None = None,
    ) -> None:
        """Commit ``batch`` (through ``writer``), then count it, notify and report progress
        (``rows_read``, by default every row read so far)."""

        def write() -> tuple[int, builtins.list[Change]]:
            if not batch:
                return 0, []
            try:
                with self.store.session(write=True) as s, s.begin():
                    return entry_repo.insert_entries(
                        s,
                        bank.id,
                        batch,
                        source=source,
                        at=now(),
                        want_changes=self.listener is not None,
                    )
            except IntegrityError:  # the bank was deleted while we were importing
                raise NotFound(f"bank {bank.name} no longer exists") from None

        self._submit(writer, write, len(batch), tally, on_progress, rows_read)

    def _submit_video(
        self,
        writer: InOrderWriter,
        bank: Bank,
        line: int,
        checked: tuple[SignalKind, str, dict[str, Any]],
        source: str | None,
        tally: _Tally,
        on_progress: Progress | None,
    ) -> None:
        """Commit one checked ``vpdq`` row as :meth:`add_entry` adds a video (its frames in
        the same transaction); a bad video is a row error, one already in the bank (even
        withdrawn) a duplicate, as in a batch."""
        from jikimi.signals.vpdq import parse_vpdq

        _, text, metadata = checked  # the canonical lines (check_row)
        try:
            video = _video_entry(parse_vpdq(text))
        except (InvalidHash, InvalidInput) as exc:
            tally.error(RowError(line=line, code=RowErrorCode.INVALID_HASH, message=exc.message))
            return
        meta = EntryMeta(source=source, metadata=metadata)

        def write() -> tuple[int, builtins.list[Change]]:
            try:
                with self.store.session(write=True) as s, s.begin():
                    if _find_video(s, bank, video.value) is not None:
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
            except Conflict:  # added meanwhile by another writer, or the bank was deleted
                with self.store.session() as s, s.begin():
                    if _find_video(s, bank, video.value) is not None:
                        return 0, []
                raise NotFound(f"bank {bank.name} no longer exists") from None
            return 1, [change]

        self._submit(writer, write, 1, tally, on_progress)

    def _submit(
        self,
        writer: InOrderWriter,
        write: Callable[[], tuple[int, builtins.list[Change]]],
        size: int,
        tally: _Tally,
        on_progress: Progress | None,
        rows_read: int | None = None,
    ) -> None:
        """Run ``write`` of ``size`` rows through ``writer``; once it has committed, count
        what it added (the rest were duplicates), notify and report progress."""
        progress = tally.rows if rows_read is None else rows_read

        def done(result: tuple[int, builtins.list[Change]]) -> None:
            added, changes = result
            tally.added += added
            tally.duplicates += size - added
            self._entries_changed(changes)
            if on_progress is not None:
                on_progress(progress)

        writer.submit(write, done)

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

    def report(self) -> ImportReport:
        return ImportReport(
            rows=self.rows,
            added=self.added,
            duplicates=self.duplicates,
            error_count=self.error_count,
            errors=tuple(self.errors),
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

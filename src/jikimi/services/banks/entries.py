"""Entries: add one (a hash, a vPDQ hash file, or media hashed here), read, list, withdraw."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import TYPE_CHECKING

from jikimi.domain import (
    BANK_SIGNALS,
    Entry,
    EntryCreate,
    EntryMeta,
    EntryPage,
    EntryStatus,
    Permission,
    Principal,
    SignalKind,
)
from jikimi.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from jikimi.matching.kinds import holds_frames
from jikimi.services._common import now, require
from jikimi.services.banks import rows as importing
from jikimi.store import entries as entry_repo
from jikimi.store import video as video_repo

if TYPE_CHECKING:
    from jikimi.signals.vpdq import FrameHash

from jikimi.services.banks._base import (
    DEFAULT_PAGE,
    MAX_PAGE,
    ServiceBase,
    check_meta,
    owned,
    visible,
)
from jikimi.services.banks.hashing import hash_media, parse_vpdq_file, video_entry


class EntryOps(ServiceBase):
    """Add, read, list, disable and withdraw one bank's entries."""

    def add_entry(self, principal: Principal, bank: str, entry: EntryCreate) -> Entry:
        """Add one hash; :class:`Conflict` if the bank has it (or had it, withdrawn).

        A ``vpdq`` value is a whole vPDQ hash file (see :meth:`add_vpdq_entry`).
        """
        require(principal, Permission.BANK_WRITE)
        if entry.signal not in BANK_SIGNALS:
            raise InvalidInput(f"a bank cannot hold {entry.signal.value} hashes")
        if holds_frames(entry.signal):
            video = video_entry(parse_vpdq_file(entry.value))
            meta = check_meta(entry)
            return self._add(principal, bank, video.signal, video.value, meta, None, video.frames)
        value = importing.validate_hash(entry.signal, entry.value)
        meta = check_meta(entry)
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
            rows.append(entry_repo.NewEntry(entry.signal, value, dict(check_meta(entry).metadata)))
        with self.store.session(write=True) as s, s.begin():
            target = owned(s, principal, bank)
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
        checked = check_meta(meta or EntryMeta())
        with self.store.session() as s, s.begin():
            target = owned(s, principal, bank)  # fail before the expensive decode
        hashed = hash_media(data, self.settings, variants=target.variants)
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
            hashed.variants,
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
        variants: str = "",
    ) -> Entry:
        """Insert the entry (and a video's frames, in the same transaction)."""
        with self.store.session(write=True) as s, s.begin():
            target = owned(s, principal, bank)
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
                variants=variants,
            )
            video_repo.add_frames(s, change.seq, frames)
        self._entries_changed([change])
        return entry

    def get_entry(self, principal: Principal, bank: str, entry_id: str) -> Entry:
        """An entry that is not withdrawn (withdrawn entries are :class:`NotFound`)."""
        require(principal, Permission.BANK_READ)
        with self.store.session() as s, s.begin():
            target = visible(s, principal, bank).bank
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
            target = visible(s, principal, bank).bank
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
            target = owned(s, principal, bank)
            result = entry_repo.set_entry_status(s, target.id, target.name, entry_id, status, now())
        if result is None:
            raise NotFound(f"no entry {entry_id} in bank {target.name}")
        entry, change = result
        if change is not None:
            self._entries_changed([change])
        return entry


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

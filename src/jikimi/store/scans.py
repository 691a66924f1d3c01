"""Repository of stored scans and the matches found for them later.

A scan is stored as its Verdict (JSON) plus its hashes in indexed columns, so
that entries added afterwards can be checked against past uploads
(retroactive matching) without keeping the media. Matches found that way are
rows of ``scan_matches``; :func:`get_scan` appends them to the Verdict's
``matches`` so readers see one Verdict v1 with every match known today.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from typing import NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from jikimi.domain import EntryStatus, ScanHashes, ScanMatch, ScanRecord
from jikimi.model import Match, SignalKind, Verdict
from jikimi.store.models import BankRow, BankShareRow, EntryRow, ScanMatchRow, ScanRow

_HASH_COLUMNS = {
    SignalKind.PDQ: ScanRow.pdq,
    SignalKind.MD5: ScanRow.md5,
    SignalKind.SHA256: ScanRow.sha256,
}
_IN_CHUNK = 500


def save_scan(s: Session, tenant_id: str, verdict: Verdict, at: datetime) -> ScanRecord:
    """Store a scan under ``verdict.id`` with its PDQ/MD5/SHA-256 for later matching."""

    def value(kind: SignalKind) -> str | None:
        signal = verdict.signal(kind)
        return None if signal is None else signal.value

    s.add(
        ScanRow(
            id=verdict.id,
            tenant_id=tenant_id,
            created_at=at,
            verdict=verdict.to_json_dict(),
            pdq=value(SignalKind.PDQ),
            md5=value(SignalKind.MD5),
            sha256=value(SignalKind.SHA256),
        )
    )
    s.flush()
    return ScanRecord(id=verdict.id, tenant_id=tenant_id, created_at=at, verdict=verdict)


def get_scan(s: Session, tenant_id: str, scan_id: str) -> ScanRecord | None:
    """The tenant's scan with retroactive matches appended; ``None`` if not the tenant's.

    Later matches show only while they would match now: their entry is active
    and its bank still visible to the tenant (owned, or still shared with it).
    The stored Verdict itself is kept as it was decided. A later video (``vpdq``)
    match has ``query_share`` and ``index_share`` null: ``scan_matches`` keeps
    only the distance (the closest frame pair's).
    """
    row = s.get(ScanRow, scan_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    verdict = Verdict.model_validate(row.verdict)
    later = _later_matches(s, scan_id, tenant_id)
    if later:
        known = {m.entry for m in verdict.matches or ()}
        extra = tuple(m for m in later if m.entry not in known)
        verdict = verdict.model_copy(update={"matches": (*(verdict.matches or ()), *extra)})
    return ScanRecord(
        id=row.id, tenant_id=row.tenant_id, created_at=row.created_at, verdict=verdict
    )


def _later_matches(s: Session, scan_id: str, tenant_id: str) -> list[Match]:
    shared = sa.select(BankShareRow.bank_id).where(BankShareRow.tenant_id == tenant_id)
    stmt = (
        sa.select(BankRow.name, EntryRow.signal, ScanMatchRow.distance, EntryRow.id)
        .select_from(ScanMatchRow)
        .join(EntryRow, EntryRow.seq == ScanMatchRow.entry_seq)
        .join(BankRow, BankRow.id == EntryRow.bank_id)
        .where(
            ScanMatchRow.scan_id == scan_id,
            EntryRow.status == EntryStatus.ACTIVE.value,
            sa.or_(BankRow.tenant_id == tenant_id, BankRow.id.in_(shared)),
        )
        .order_by(ScanMatchRow.found_at, ScanMatchRow.entry_seq)
    )
    return [
        Match(bank=bank, signal=SignalKind(signal), distance=distance, entry=entry)
        for bank, signal, distance, entry in s.execute(stmt)
    ]


def _hashes_select() -> sa.Select[str, str, datetime, str | None, str | None, str | None]:
    return sa.select(
        ScanRow.id, ScanRow.tenant_id, ScanRow.created_at, ScanRow.pdq, ScanRow.md5, ScanRow.sha256
    )


def iter_scan_hashes(
    s: Session,
    tenant_ids: Collection[str],
    since: datetime | None = None,
    *,
    batch_size: int = 5_000,
) -> Iterator[ScanHashes]:
    """Hashes of the tenants' stored scans (created at or after ``since``), oldest first."""
    if not tenant_ids:
        return
    stmt = _hashes_select().where(ScanRow.tenant_id.in_(list(tenant_ids)))
    if since is not None:
        stmt = stmt.where(ScanRow.created_at >= since)
    stmt = stmt.order_by(ScanRow.created_at, ScanRow.id).execution_options(yield_per=batch_size)
    for row in s.execute(stmt):
        yield ScanHashes._make(row)


class VideoScan(NamedTuple):
    """A stored video scan's frame hashes, for re-checking against videos banked later."""

    scan_id: str
    created_at: datetime
    vpdq: str
    """The Verdict's ``vpdq`` signal: a vPDQ text (see :func:`jikimi.signals.vpdq.parse_vpdq`)."""


def iter_video_scans(
    s: Session, tenant_ids: Collection[str], before: datetime, *, batch_size: int = 500
) -> Iterator[VideoScan]:
    """The tenants' stored video scans created before ``before``, oldest first, streamed.

    A video scan is told apart in SQL by its columns (no PDQ, a SHA-256 of its bytes),
    which works alike on SQLite and PostgreSQL and uses the ``(tenant_id, created_at)``
    index; only the Verdict's ``signals`` are fetched and the ``vpdq`` one is picked in
    Python (JSON path operators differ between the two). Rows without one (an image
    too small for PDQ, say) are skipped. ``batch_size`` is small because a vPDQ text
    is about 80 bytes per hashed frame: an hour-long video is ~300 kB.
    """
    if not tenant_ids:
        return
    stmt = (
        sa.select(ScanRow.id, ScanRow.created_at, ScanRow.verdict["signals"])
        .where(
            ScanRow.tenant_id.in_(list(tenant_ids)),
            ScanRow.created_at < before,
            ScanRow.pdq.is_(None),
            ScanRow.sha256.is_not(None),
        )
        .order_by(ScanRow.created_at, ScanRow.id)
        .execution_options(yield_per=batch_size)
    )
    for scan_id, created_at, signals in s.execute(stmt):
        vpdq = _signal_value(signals, SignalKind.VPDQ)
        if vpdq is not None:
            yield VideoScan(scan_id=scan_id, created_at=created_at, vpdq=vpdq)


def _signal_value(signals: object, kind: SignalKind) -> str | None:
    """The value of the ``kind`` signal in a stored Verdict's ``signals`` (JSON), if any."""
    if not isinstance(signals, list):
        return None
    for signal in signals:
        if isinstance(signal, dict) and signal.get("type") == kind.value:
            value = signal.get("value")
            return value if isinstance(value, str) else None
    return None


def find_scans_by_hash(
    s: Session, tenant_ids: Collection[str], signal: SignalKind, values: Collection[str]
) -> list[ScanHashes]:
    """Stored scans of the tenants whose ``signal`` hash equals one of ``values`` (indexed)."""
    column = _HASH_COLUMNS[signal]
    wanted = list(values)
    out: list[ScanHashes] = []
    if not tenant_ids:
        return out
    for i in range(0, len(wanted), _IN_CHUNK):
        stmt = _hashes_select().where(
            column.in_(wanted[i : i + _IN_CHUNK]), ScanRow.tenant_id.in_(list(tenant_ids))
        )
        out.extend(ScanHashes._make(row) for row in s.execute(stmt))
    return out


def add_scan_matches(s: Session, matches: Iterable[ScanMatch], at: datetime) -> int:
    """Record matches found after the fact; returns how many were new (repeats are skipped)."""
    params = [
        {"scan_id": m.scan_id, "entry_seq": m.entry_seq, "distance": m.distance, "found_at": at}
        for m in matches
    ]
    if not params:
        return 0
    table = cast(sa.Table, ScanMatchRow.__table__)
    insert = (
        postgresql.insert(table)
        if s.get_bind().dialect.name == "postgresql"
        else sqlite.insert(table)
    )
    stmt = insert.on_conflict_do_nothing().returning(table.c.scan_id)
    return len(s.execute(stmt, params).all())

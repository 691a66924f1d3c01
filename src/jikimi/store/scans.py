"""Repository of stored scans and the matches found for them later.

A scan is stored as its Verdict (JSON) plus a ``scan_signals`` row per signal
(``kind``, ``key``; indexed), so that entries added afterwards can be checked
against past uploads (retroactive matching) without keeping the media. The
keys are computed by the caller (what a stored scan keeps of each kind is
declared in :mod:`jikimi.matching.kinds`). Matches found that way are rows of
``scan_matches``; :func:`get_scan` appends them to the Verdict's ``matches`` so
readers see one Verdict v1 with every match known today.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from jikimi.domain import BankKind, EntryStatus, Match, ScanMatch, ScanRecord, SignalKind, Verdict
from jikimi.store import scan_faces as scan_faces_repo
from jikimi.store.models import (
    BankRow,
    BankShareRow,
    EntryRow,
    ScanMatchRow,
    ScanRow,
    ScanSignalRow,
)

_IN_CHUNK = 500


class ScanSignal(NamedTuple):
    """One stored scan's signal of one kind, for re-checking against later entries."""

    scan_id: str
    tenant_id: str
    created_at: datetime
    value: str
    """The row's key, or (``full=True``) the Verdict's value of that signal."""


def save_scan(
    s: Session,
    tenant_id: str,
    verdict: Verdict,
    at: datetime,
    keys: Sequence[tuple[SignalKind, str]] = (),
) -> ScanRecord:
    """Store a scan under ``verdict.id`` with its signals' ``(kind, key)`` rows."""
    s.add(
        ScanRow(id=verdict.id, tenant_id=tenant_id, created_at=at, verdict=verdict.to_json_dict())
    )
    s.flush()
    if keys:
        s.execute(
            sa.insert(ScanSignalRow),
            [{"scan_id": verdict.id, "kind": kind.value, "key": key} for kind, key in keys],
        )
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
    verdict = _with_late_faces(s, tenant_id, scan_id, verdict)
    return ScanRecord(
        id=row.id, tenant_id=row.tenant_id, created_at=row.created_at, verdict=verdict
    )


def _with_late_faces(s: Session, tenant_id: str, scan_id: str, verdict: Verdict) -> Verdict:
    """Faces in which a person enrolled after the scan was found (while she is active):
    ``person`` and ``similarity`` as a scan today would report them."""
    faces = list(verdict.faces or ())
    late = scan_faces_repo.late_matches(s, tenant_id, scan_id=scan_id) if faces else []
    changed = False
    for match in late:
        if 0 <= match.face < len(faces):
            face = faces[match.face]
            if face.person is None or (face.similarity or 0.0) < match.similarity:
                faces[match.face] = face.model_copy(
                    update={"person": match.person_id, "similarity": round(match.similarity, 4)}
                )
                changed = True
    return verdict.model_copy(update={"faces": tuple(faces)}) if changed else verdict


def _later_matches(s: Session, scan_id: str, tenant_id: str) -> list[Match]:
    shared = sa.select(BankShareRow.bank_id).where(BankShareRow.tenant_id == tenant_id)
    stmt = (
        sa.select(
            BankRow.name,
            EntryRow.signal,
            ScanMatchRow.distance,
            EntryRow.id,
            BankRow.id,
            BankRow.kind,
        )
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
        Match(
            bank=bank,
            bank_id=bank_id,
            bank_kind=BankKind(kind),
            signal=SignalKind(signal),
            distance=distance,
            entry=entry,
        )
        for bank, signal, distance, entry, bank_id, kind in s.execute(stmt)
    ]


def iter_scan_signals(
    s: Session,
    tenant_ids: Collection[str],
    kind: SignalKind,
    *,
    before: datetime | None = None,
    full: bool = False,
    batch_size: int = 5_000,
) -> Iterator[ScanSignal]:
    """The tenants' stored scans that have a ``kind`` signal, oldest first, streamed.

    ``before``: only scans created before it. ``full``: the value is the Verdict's
    signal (a video's frames, say) rather than the row's key; only the Verdict's
    ``signals`` are fetched and the one of ``kind`` picked in Python (JSON path
    operators differ between SQLite and PostgreSQL). Rows whose Verdict has no such
    signal are skipped. Keep ``batch_size`` small with ``full``: a vPDQ text is
    about 80 bytes per hashed frame, an hour-long video ~300 kB.
    """
    if not tenant_ids:
        return
    value = ScanRow.verdict["signals"] if full else ScanSignalRow.key
    stmt = (
        sa.select(ScanRow.id, ScanRow.tenant_id, ScanRow.created_at, value)
        .join(ScanSignalRow, ScanSignalRow.scan_id == ScanRow.id)
        .where(ScanRow.tenant_id.in_(list(tenant_ids)), ScanSignalRow.kind == kind.value)
    )
    if before is not None:
        stmt = stmt.where(ScanRow.created_at < before)
    stmt = stmt.order_by(ScanRow.created_at, ScanRow.id).execution_options(yield_per=batch_size)
    for scan_id, tenant_id, created_at, got in s.execute(stmt):
        text = _signal_value(got, kind) if full else got
        if text is not None:
            yield ScanSignal(scan_id, tenant_id, created_at, text)


def _signal_value(signals: object, kind: SignalKind) -> str | None:
    """The value of the ``kind`` signal in a stored Verdict's ``signals`` (JSON), if any."""
    if not isinstance(signals, list):
        return None
    for signal in signals:
        if isinstance(signal, dict) and signal.get("type") == kind.value:
            value = signal.get("value")
            return value if isinstance(value, str) else None
    return None


def find_scans_by_key(
    s: Session, tenant_ids: Collection[str], kind: SignalKind, keys: Collection[str]
) -> list[ScanSignal]:
    """Stored scans of the tenants whose ``kind`` key is one of ``keys`` (indexed)."""
    wanted = list(keys)
    out: list[ScanSignal] = []
    if not tenant_ids:
        return out
    for i in range(0, len(wanted), _IN_CHUNK):
        stmt = (
            sa.select(ScanRow.id, ScanRow.tenant_id, ScanRow.created_at, ScanSignalRow.key)
            .join(ScanSignalRow, ScanSignalRow.scan_id == ScanRow.id)
            .where(
                ScanSignalRow.kind == kind.value,
                ScanSignalRow.key.in_(wanted[i : i + _IN_CHUNK]),
                ScanRow.tenant_id.in_(list(tenant_ids)),
            )
        )
        out.extend(ScanSignal._make(row) for row in s.execute(stmt))
    return out


def count_scans(s: Session, tenant_ids: Collection[str]) -> int:
    """How many scans the tenants have stored."""
    stmt = sa.select(sa.func.count()).where(ScanRow.tenant_id.in_(list(tenant_ids)))
    return int(s.scalar(stmt) or 0)


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


def list_scans_between(
    s: Session, tenant_id: str, start: datetime, end: datetime
) -> list[ScanRecord]:
    """The tenant's stored scans made in ``[start, end)``, oldest first (as decided)."""
    rows = s.scalars(
        sa.select(ScanRow)
        .where(
            ScanRow.tenant_id == tenant_id, ScanRow.created_at >= start, ScanRow.created_at < end
        )
        .order_by(ScanRow.created_at, ScanRow.id)
    )
    return [
        ScanRecord(
            id=r.id,
            tenant_id=r.tenant_id,
            created_at=r.created_at,
            verdict=Verdict.model_validate(r.verdict),
        )
        for r in rows
    ]

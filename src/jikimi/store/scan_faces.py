"""Repository of scanned faces kept sealed, and of persons found in them later.

Rows in, value types out, never a commit. Sealed templates leave this module only
through :func:`sealed_scan_faces`, whose one caller (the retroactive face matcher)
opens them in memory; they are read one tenant at a time, never across tenants.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jikimi.domain import PersonStatus
from jikimi.store.face_models import ScanFaceRow, ScanPersonMatchRow
from jikimi.store.models import PersonRow


class NewScanFace(NamedTuple):
    scan_id: str
    tenant_id: str
    face: int
    sealed: bytes
    key_id: str


class SealedScanFace(NamedTuple):
    id: int
    scan_id: str
    face: int
    key_id: str
    sealed: bytes


class LateFaceMatch(NamedTuple):
    """A registered person found in a stored scan's face after the scan."""

    scan_id: str
    face: int
    person_id: str
    similarity: float
    found_at: datetime


def add_scan_faces(s: Session, faces: Iterable[NewScanFace], at: datetime) -> int:
    rows = [
        ScanFaceRow(
            scan_id=f.scan_id,
            tenant_id=f.tenant_id,
            face=f.face,
            sealed=f.sealed,
            key_id=f.key_id,
            created_at=at,
        )
        for f in faces
    ]
    s.add_all(rows)
    return len(rows)


def sealed_scan_faces(
    s: Session, tenant_id: str, before: datetime, after_id: int, limit: int
) -> list[SealedScanFace]:
    """The tenant's scanned faces stored before ``before``, in id order after ``after_id``."""
    rows = s.execute(
        sa.select(
            ScanFaceRow.id,
            ScanFaceRow.scan_id,
            ScanFaceRow.face,
            ScanFaceRow.key_id,
            ScanFaceRow.sealed,
        )
        .where(
            ScanFaceRow.tenant_id == tenant_id,
            ScanFaceRow.created_at < before,
            ScanFaceRow.id > after_id,
        )
        .order_by(ScanFaceRow.id)
        .limit(limit)
    )
    return [SealedScanFace(*row) for row in rows]


def purge_scan_faces(s: Session, older_than: datetime) -> int:
    """Delete scanned faces kept longer than allowed; how many."""
    result = s.execute(
        sa.delete(ScanFaceRow)
        .where(ScanFaceRow.created_at < older_than)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))


def record_match(s: Session, tenant_id: str, match: LateFaceMatch) -> bool:
    """Record a late match; ``False`` if it was known (a job done twice)."""
    key = (match.scan_id, match.face, match.person_id)
    if s.get(ScanPersonMatchRow, key) is not None:
        return False
    s.add(
        ScanPersonMatchRow(
            scan_id=match.scan_id,
            face=match.face,
            person_id=match.person_id,
            tenant_id=tenant_id,
            similarity=match.similarity,
            found_at=match.found_at,
        )
    )
    s.flush()
    return True


def late_matches(
    s: Session, tenant_id: str, *, scan_id: str | None = None, person_id: str | None = None
) -> list[LateFaceMatch]:
    """Late matches of a scan or of a person, while the person is still active."""
    stmt = (
        sa.select(
            ScanPersonMatchRow.scan_id,
            ScanPersonMatchRow.face,
            ScanPersonMatchRow.person_id,
            ScanPersonMatchRow.similarity,
            ScanPersonMatchRow.found_at,
        )
        .join(PersonRow, PersonRow.id == ScanPersonMatchRow.person_id)
        .where(
            ScanPersonMatchRow.tenant_id == tenant_id,
            PersonRow.status == PersonStatus.ACTIVE.value,
        )
        .order_by(ScanPersonMatchRow.found_at, ScanPersonMatchRow.scan_id, ScanPersonMatchRow.face)
    )
    if scan_id is not None:
        stmt = stmt.where(ScanPersonMatchRow.scan_id == scan_id)
    if person_id is not None:
        stmt = stmt.where(ScanPersonMatchRow.person_id == person_id)
    return [LateFaceMatch(*row) for row in s.execute(stmt)]

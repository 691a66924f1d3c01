"""Tables of retroactive face matching: scanned faces kept sealed, and late matches.

Kept apart from :mod:`jikimi.store.models` (same ``Base``, same conventions).

``scan_faces`` holds one sealed template (AES-256-GCM, the face key, associated
data bound to tenant, scan and face) per face of a stored scan, for
``face_retro_days`` only, and only for scans whose face stage ran (tenants with
enrolled persons, unless ``face_detect`` is ``always``). It exists so that a
person enrolled today is found in an upload scanned last week. Nothing but the
retroactive matcher reads it; no value type carries its ``sealed`` column.
``scan_person_matches`` records what that matcher found.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from jikimi.store.models import ID, Base, BigId


class ScanFaceRow(Base):
    """One face of a stored scan, its template sealed; deleted with the scan or when old."""

    __tablename__ = "scan_faces"
    __table_args__ = (
        sa.Index(None, "tenant_id", "created_at"),
        sa.Index(None, "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scan_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("scans.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    face: Mapped[int]  # position in the Verdict's faces
    sealed: Mapped[bytes] = mapped_column(sa.LargeBinary)
    key_id: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime]


class ScanPersonMatchRow(Base):
    """A registered person found in a stored scan after it was scanned (on her enrolment)."""

    __tablename__ = "scan_person_matches"

    scan_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True
    )
    face: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    tenant_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    similarity: Mapped[float] = mapped_column(sa.Float)
    found_at: Mapped[datetime]

"""Repository of the review queue: held media rows, decisions, escalations, views (never commits).

The service sees plain dataclasses (:class:`Held`, :class:`Review`); ORM rows stay
here. An escalation is a decision row whose action is ``escalate``; when a senior
reviewer decides the scan later, the same row takes her decision and keeps who
escalated it, when and why (``escalated_*``), so the history of the item reads
from one row and the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jikimi.store.case_models import AuditRow
from jikimi.store.ui_models import HeldMediaRow, ReviewRow, ReviewViewRow


class ReviewAction(StrEnum):
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class Held:
    """A held scan in the queue; ``sha256`` names its sealed media (``None``: deleted)."""

    scan_id: str
    tenant_id: str
    sha256: str | None
    media_type: str
    priority: int
    held_at: datetime
    kept_until: datetime


@dataclass(frozen=True)
class Review:
    scan_id: str
    action: ReviewAction
    decided_by: str
    decided_at: datetime
    bank_id: str | None
    case_id: str | None
    escalated_by: str | None = None
    escalated_at: datetime | None = None
    escalation_reason: str | None = None


def _held(row: HeldMediaRow) -> Held:
    return Held(
        row.scan_id,
        row.tenant_id,
        row.sha256,
        row.media_type,
        row.priority,
        row.held_at,
        row.kept_until,
    )


def _review(row: ReviewRow) -> Review:
    return Review(
        row.scan_id,
        ReviewAction(row.action),
        row.decided_by,
        row.decided_at,
        row.bank_id,
        row.case_id,
        row.escalated_by,
        row.escalated_at,
        row.escalation_reason,
    )


# --- held media ------------------------------------------------------------------------


def add_held(s: Session, held: Held) -> None:
    s.add(
        HeldMediaRow(
            scan_id=held.scan_id,
            tenant_id=held.tenant_id,
            sha256=held.sha256,
            media_type=held.media_type,
            priority=held.priority,
            held_at=held.held_at,
            kept_until=held.kept_until,
        )
    )


def get_held(s: Session, tenant_id: str, scan_id: str) -> Held | None:
    """The tenant's held scan (another tenant's reads as absent)."""
    row = s.get(HeldMediaRow, scan_id)
    return None if row is None or row.tenant_id != tenant_id else _held(row)


def expired_media(s: Session, at: datetime, limit: int = 1000) -> list[Held]:
    rows = s.scalars(
        sa.select(HeldMediaRow)
        .where(HeldMediaRow.kept_until <= at, HeldMediaRow.sha256.is_not(None))
        .limit(limit)
    )
    return [_held(r) for r in rows]


def forget_media(s: Session, scan_id: str) -> None:
    """The row stays (the decision can still be made); its media is gone."""
    s.execute(sa.update(HeldMediaRow).where(HeldMediaRow.scan_id == scan_id).values(sha256=None))


def undecided(s: Session, tenant_id: str, limit: int) -> list[Held]:
    """Held scans without a decision: most urgent first, then oldest."""
    rows = s.scalars(
        sa.select(HeldMediaRow)
        .outerjoin(ReviewRow, ReviewRow.scan_id == HeldMediaRow.scan_id)
        .where(HeldMediaRow.tenant_id == tenant_id, ReviewRow.scan_id.is_(None))
        .order_by(HeldMediaRow.priority.desc(), HeldMediaRow.held_at, HeldMediaRow.scan_id)
        .limit(limit)
    )
    return [_held(r) for r in rows]


# --- decisions -------------------------------------------------------------------------


def get_review(s: Session, tenant_id: str, scan_id: str) -> Review | None:
    row = s.get(ReviewRow, scan_id)
    return None if row is None or row.tenant_id != tenant_id else _review(row)


def add_review(s: Session, tenant_id: str, review: Review) -> None:
    s.add(
        ReviewRow(
            scan_id=review.scan_id,
            tenant_id=tenant_id,
            action=review.action.value,
            decided_by=review.decided_by,
            decided_at=review.decided_at,
            bank_id=review.bank_id,
            case_id=review.case_id,
            escalated_by=review.escalated_by,
            escalated_at=review.escalated_at,
            escalation_reason=review.escalation_reason,
        )
    )
    s.flush()


def resolve_escalation(s: Session, tenant_id: str, review: Review) -> bool:
    """Put a senior's decision on an escalated scan; ``False`` if it is not escalated now
    (someone decided it first: the caller reports the conflict)."""
    result = s.execute(
        sa.update(ReviewRow)
        .where(
            ReviewRow.scan_id == review.scan_id,
            ReviewRow.tenant_id == tenant_id,
            ReviewRow.action == ReviewAction.ESCALATE.value,
        )
        .values(
            action=review.action.value,
            decided_by=review.decided_by,
            decided_at=review.decided_at,
            bank_id=review.bank_id,
            case_id=review.case_id,
        )
    )
    return bool(getattr(result, "rowcount", 0))


def decisions(s: Session, tenant_id: str, limit: int) -> list[Review]:
    rows = s.scalars(
        sa.select(ReviewRow)
        .where(ReviewRow.tenant_id == tenant_id)
        .order_by(ReviewRow.decided_at.desc())
        .limit(limit)
    )
    return [_review(r) for r in rows]


def escalations(s: Session, tenant_id: str, *, open_only: bool, limit: int) -> list[Review]:
    """Escalated scans: still open (oldest first), or decided since (newest first)."""
    mine = ReviewRow.tenant_id == tenant_id
    if open_only:
        query = (
            sa.select(ReviewRow)
            .where(mine, ReviewRow.action == ReviewAction.ESCALATE.value)
            .order_by(ReviewRow.escalated_at, ReviewRow.scan_id)
        )
    else:
        query = (
            sa.select(ReviewRow)
            .where(
                mine,
                ReviewRow.escalated_at.is_not(None),
                ReviewRow.action != ReviewAction.ESCALATE.value,
            )
            .order_by(ReviewRow.decided_at.desc())
        )
    return [_review(r) for r in s.scalars(query.limit(limit))]


# --- views and un-blurs ----------------------------------------------------------------


def count_views(
    s: Session, tenant_id: str, user_id: str, since: datetime, scan_id: str | None = None
) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(ReviewViewRow)
        .where(
            ReviewViewRow.tenant_id == tenant_id,
            ReviewViewRow.user_id == user_id,
            ReviewViewRow.at >= since,
        )
    )
    if scan_id is not None:
        query = query.where(ReviewViewRow.scan_id == scan_id)
    return int(s.scalar(query) or 0)


def add_view(s: Session, tenant_id: str, user_id: str, scan_id: str, at: datetime) -> None:
    s.add(ReviewViewRow(tenant_id=tenant_id, user_id=user_id, scan_id=scan_id, at=at))


def unblurred_since(s: Session, tenant_id: str, actor: str, scan_id: str, since: datetime) -> bool:
    """Her un-blur of this scan is in the audit log since ``since``."""
    found = s.scalar(
        sa.select(AuditRow.seq)
        .where(
            AuditRow.tenant_id == tenant_id,
            AuditRow.entity == "scan",
            AuditRow.entity_id == scan_id,
            AuditRow.action == "unblur",
            AuditRow.actor == actor,
            AuditRow.at >= since,
        )
        .limit(1)
    )
    return found is not None

"""The review queue: held scans, their media kept sealed for a while, reviewers' decisions.

::

    ScanService.scan_many ─► HeldMedia.keep (a Verdict whose decision is ``hold``):
        its media sealed into the blob store, a ``held_media`` row (priority, time)
    ReviewService.queue ─────► held rows without a decision, by priority then age
    ReviewService.preview ───► greyscale, blurred (un-blurred only when asked: audited)
    ReviewService.decide ────► confirm (hashes into a bank, a case opened or extended),
                               dismiss (optionally into a suppression bank; media
                               deleted at once), escalate; one audit row each

Only media of held scans is ever kept, and only until ``held_media_days`` after it
was held (:meth:`HeldMedia.purge`); the row stays so the decision can still be
made from the Verdict alone. Reviewers (and admins) decide; their decision is the
authority for its consequences, so the bank entry and the case item are written on
its behalf and the audit log names the reviewer and the scan.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from PIL import Image, ImageDraw, ImageFilter

from jikimi.config import Settings
from jikimi.domain import Action, EntryCreate, MediaKind, Principal, Role, SignalKind, Verdict
from jikimi.errors import Conflict, Forbidden, InvalidInput, JikimiError, NotFound
from jikimi.evidence import Sealer
from jikimi.media import MediaLimits, load
from jikimi.pipeline import Item
from jikimi.services._common import now
from jikimi.services.banks import BankService
from jikimi.services.cases import CaseService
from jikimi.store import Store
from jikimi.store import audit as audit_repo
from jikimi.store import scans as scan_repo
from jikimi.store.case_models import AuditRow
from jikimi.store.ui_models import HeldMediaRow, ReviewRow, ReviewViewRow

log = logging.getLogger(__name__)

REVIEW_ROLES = frozenset({Role.REVIEWER, Role.ADMIN})
PREVIEW_SIDE = 480
BLUR_RADIUS = 18
STORYBOARD_FRAMES = 6
UNBLUR_MINUTES = 10


class ReviewAction(StrEnum):
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class QueueItem:
    scan_id: str
    held_at: datetime
    verdict: Verdict
    has_media: bool
    media_type: str


@dataclass(frozen=True)
class Review:
    scan_id: str
    action: ReviewAction
    decided_by: str
    decided_at: datetime
    bank_id: str | None
    case_id: str | None


def _seal_name(scan_id: str) -> str:
    return f"held:{scan_id}"


class HeldMedia:
    """Keeps the media of held scans (sealed) and deletes it when its time is up."""

    def __init__(self, store: Store, sealer: Sealer, settings: Settings) -> None:
        self.store = store
        self.sealer = sealer
        self.keep_for = timedelta(days=settings.held_media_days)

    def keep(
        self, principal: Principal, items: Sequence[Item], verdicts: Sequence[Verdict]
    ) -> None:
        """Called after the Verdicts are stored; ``items`` and ``verdicts`` are in step."""
        at = now()
        for item, verdict in zip(items, verdicts, strict=True):
            decision = verdict.decision
            if verdict.error is not None or decision is None or decision.action != Action.HOLD:
                continue
            media = verdict.media
            kind = media.kind.value if media is not None else MediaKind.IMAGE.value
            try:
                sha = self.store.blobs.put(self.sealer.seal(item.data, _seal_name(verdict.id)))
                with self.store.session(write=True) as s, s.begin():
                    s.add(
                        HeldMediaRow(
                            scan_id=verdict.id,
                            tenant_id=principal.tenant_id,
                            sha256=sha,
                            media_type=kind,
                            priority=decision.priority.severity,
                            held_at=at,
                            kept_until=at + self.keep_for,
                        )
                    )
            except Exception:  # keeping media must never fail the scan that was stored
                log.exception("could not keep the media of held scan %s", verdict.id)

    def open(self, row: HeldMediaRow) -> bytes | None:
        if row.sha256 is None or not self.store.blobs.exists(row.sha256):
            return None
        return self.sealer.open(self.store.blobs.read(row.sha256), _seal_name(row.scan_id))

    def purge(self, at: datetime | None = None) -> int:
        """Delete media whose retention has passed; the rows stay (the queue still shows them)."""
        at = at or now()
        with self.store.session(write=True) as s, s.begin():
            rows = s.scalars(
                sa.select(HeldMediaRow)
                .where(HeldMediaRow.kept_until <= at, HeldMediaRow.sha256.is_not(None))
                .limit(1000)
            ).all()
            for row in rows:
                self._forget(row)
        return len(rows)

    def _forget(self, row: HeldMediaRow) -> None:
        if row.sha256 is not None:
            self.store.blobs.delete(row.sha256)
            row.sha256 = None


def _require_reviewer(principal: Principal) -> None:
    if principal.role not in REVIEW_ROLES:
        raise Forbidden(f"role {principal.role.value!r} may not review held scans")


class ReviewService:
    """The queue and the decisions (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        held: HeldMedia,
        banks: BankService,
        cases: CaseService,
        limits: MediaLimits,
        settings: Settings,
    ) -> None:
        self.store = store
        self.held = held
        self.banks = banks
        self.cases = cases
        self.limits = limits
        self.settings = settings

    def queue(self, principal: Principal, limit: int = 50) -> list[QueueItem]:
        """Held scans of the tenant still undecided: most urgent first, then oldest."""
        _require_reviewer(principal)
        self.held.purge()
        with self.store.session() as s:
            rows = s.execute(
                sa.select(HeldMediaRow)
                .outerjoin(ReviewRow, ReviewRow.scan_id == HeldMediaRow.scan_id)
                .where(HeldMediaRow.tenant_id == principal.tenant_id, ReviewRow.scan_id.is_(None))
                .order_by(HeldMediaRow.priority.desc(), HeldMediaRow.held_at, HeldMediaRow.scan_id)
                .limit(limit)
            ).scalars()
            out = []
            for row in rows:
                record = scan_repo.get_scan(s, principal.tenant_id, row.scan_id)
                if record is None:
                    continue
                out.append(
                    QueueItem(
                        scan_id=row.scan_id,
                        held_at=row.held_at,
                        verdict=record.verdict,
                        has_media=row.sha256 is not None,
                        media_type=row.media_type,
                    )
                )
            return out

    def item(self, principal: Principal, scan_id: str) -> tuple[QueueItem, Review | None]:
        _require_reviewer(principal)
        with self.store.session() as s:
            row = self._row(s, principal, scan_id)
            record = scan_repo.get_scan(s, principal.tenant_id, scan_id)
            if record is None:
                raise NotFound(f"no held scan {scan_id!r}")
            review = s.get(ReviewRow, scan_id)
            item = QueueItem(
                scan_id, row.held_at, record.verdict, row.sha256 is not None, row.media_type
            )
            return item, None if review is None else _review(review)

    def seen_today(self, principal: Principal) -> int:
        """Items this reviewer has opened since midnight UTC (her count and the cap)."""
        start = now().replace(hour=0, minute=0, second=0, microsecond=0)
        with self.store.session() as s:
            count = s.scalar(
                sa.select(sa.func.count())
                .select_from(ReviewViewRow)
                .where(
                    ReviewViewRow.tenant_id == principal.tenant_id,
                    ReviewViewRow.user_id == principal.key_id,
                    ReviewViewRow.at >= start,
                )
            )
        return int(count or 0)

    def note_view(self, principal: Principal, scan_id: str, daily_cap: int) -> int:
        """Count an item as seen (once per item and day); :class:`Forbidden` past the cap."""
        _require_reviewer(principal)
        at = now()
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        with self.store.session(write=True) as s, s.begin():
            self._row(s, principal, scan_id)
            mine = sa.and_(
                ReviewViewRow.tenant_id == principal.tenant_id,
                ReviewViewRow.user_id == principal.key_id,
                ReviewViewRow.at >= start,
            )
            already = s.scalar(
                sa.select(sa.func.count())
                .select_from(ReviewViewRow)
                .where(mine, ReviewViewRow.scan_id == scan_id)
            )
            count = int(
                s.scalar(sa.select(sa.func.count()).select_from(ReviewViewRow).where(mine)) or 0
            )
            if already:
                return count
            if count >= daily_cap:
                raise Forbidden(
                    f"today's cap of {daily_cap} items is reached: take the rest of the day off"
                )
            s.add(
                ReviewViewRow(
                    tenant_id=principal.tenant_id, user_id=principal.key_id, scan_id=scan_id, at=at
                )
            )
            return count + 1

    def unblur(self, principal: Principal, scan_id: str) -> None:
        """A reviewer asks to see one item sharp: audited, and good for ``UNBLUR_MINUTES``."""
        _require_reviewer(principal)
        at = now()
        with self.store.session(write=True) as s, s.begin():
            self._row(s, principal, scan_id)
            audit_repo.append(
                s,
                tenant_id=principal.tenant_id,
                actor=principal.key_id,
                entity="scan",
                entity_id=scan_id,
                action="unblur",
                data={},
                at=at,
            )

    def preview(self, principal: Principal, scan_id: str, *, unblurred: bool = False) -> bytes:
        """A JPEG: greyscale, regions boxed, blurred unless ``unblurred``.

        ``unblurred`` is served only to a reviewer whose :meth:`unblur` of this item is
        in the audit log within ``UNBLUR_MINUTES``. A video is a storyboard of a few
        frames, treated the same way.
        """
        _require_reviewer(principal)
        with self.store.session() as s:
            row = self._row(s, principal, scan_id)
            if unblurred and not self._unblurred_recently(s, principal, scan_id):
                raise Forbidden("un-blur this item first (the click is recorded)")
            data = self.held.open(row)
            if data is None:
                raise NotFound("this scan's media is no longer kept")
            record = scan_repo.get_scan(s, principal.tenant_id, scan_id)
            media_type = row.media_type
        verdict = record.verdict if record is not None else None
        if media_type == MediaKind.VIDEO.value:
            return self._storyboard(data, unblurred)
        return self._still(data, verdict, unblurred)

    def _unblurred_recently(self, s: Any, principal: Principal, scan_id: str) -> bool:
        since = now() - timedelta(minutes=UNBLUR_MINUTES)
        found = s.scalar(
            sa.select(AuditRow.seq)
            .where(
                AuditRow.tenant_id == principal.tenant_id,
                AuditRow.entity == "scan",
                AuditRow.entity_id == scan_id,
                AuditRow.action == "unblur",
                AuditRow.actor == principal.key_id,
                AuditRow.at >= since,
            )
            .limit(1)
        )
        return found is not None

    def _still(self, data: bytes, verdict: Verdict | None, unblurred: bool) -> bytes:
        rgb = load(data, self.limits).rgb()
        im = Image.fromarray(rgb).convert("L")
        scale = PREVIEW_SIDE / max(im.size)
        if verdict is not None and verdict.grade is not None and verdict.grade.regions:
            im = im.convert("RGB")
            draw = ImageDraw.Draw(im)
            width = max(2, int(3 / min(scale, 1.0)))
            for region in verdict.grade.regions:
                x, y, w, h = region.box
                draw.rectangle((x, y, x + w, y + h), outline=(255, 200, 0), width=width)
        return _jpeg(_soften(im, unblurred))

    def _storyboard(self, data: bytes, unblurred: bool) -> bytes:
        from jikimi.media.video import VideoLimits, load_video

        video = load_video(data, VideoLimits.from_settings(self.settings))
        duration = video.media.duration_s or 1.0
        frames = []
        for frame in video.frames(every_s=max(duration / STORYBOARD_FRAMES, 0.1)):
            frames.append(Image.fromarray(frame.picture.rgb()).convert("L"))
            if len(frames) == STORYBOARD_FRAMES:
                break
        if not frames:
            raise NotFound("no frame of this video could be decoded")
        cell = 240
        sheet = Image.new("L", (cell * 3, cell * ((len(frames) + 2) // 3)), 32)
        for i, thumb in enumerate(frames):
            thumb.thumbnail((cell, cell))
            sheet.paste(thumb, ((i % 3) * cell, (i // 3) * cell))
        return _jpeg(_soften(sheet, unblurred))

    def decide(
        self,
        principal: Principal,
        scan_id: str,
        action: ReviewAction,
        *,
        bank: str | None = None,
        case_id: str | None = None,
        case_title: str | None = None,
    ) -> Review:
        """Record a decision and carry out its consequence (see the module docstring)."""
        _require_reviewer(principal)
        item, review = self.item(principal, scan_id)
        if review is not None:
            raise Conflict(f"scan {scan_id!r} was decided already ({review.action.value})")
        delegate = Principal(
            tenant_id=principal.tenant_id, key_id=principal.key_id, role=Role.ADMIN
        )
        bank_id = None
        if bank:
            if action is ReviewAction.ESCALATE:
                raise InvalidInput("an escalation adds nothing to a bank")
            bank_id = self._add_to_bank(delegate, bank, item.verdict, action)
        opened_case = None
        if action is ReviewAction.CONFIRM and (case_id or case_title):
            opened_case = self._case(delegate, item.verdict, case_id, case_title)
        at = now()
        with self.store.session(write=True) as s, s.begin():
            row = self._row(s, principal, scan_id)
            if s.get(ReviewRow, scan_id) is not None:
                raise Conflict(f"scan {scan_id!r} was decided already")
            s.add(
                ReviewRow(
                    scan_id=scan_id,
                    tenant_id=principal.tenant_id,
                    action=action.value,
                    decided_by=principal.key_id,
                    decided_at=at,
                    bank_id=bank_id,
                    case_id=opened_case,
                )
            )
            if action is ReviewAction.DISMISS:
                self.held._forget(row)  # a false positive's media has no reason to stay
            data: dict[str, Any] = {"bank_id": bank_id, "case_id": opened_case}
            audit_repo.append(
                s,
                tenant_id=principal.tenant_id,
                actor=principal.key_id,
                entity="scan",
                entity_id=scan_id,
                action=f"review_{action.value}",
                data=data,
                at=at,
            )
        return Review(scan_id, action, principal.key_id, at, bank_id, opened_case)

    def _add_to_bank(
        self, delegate: Principal, bank: str, verdict: Verdict, action: ReviewAction
    ) -> str:
        target = self.banks.get(delegate, bank)
        if action is ReviewAction.DISMISS and target.kind.value != "suppression":
            raise InvalidInput("a dismissed scan goes only into a suppression bank")
        added = 0
        for kind in (SignalKind.PDQ, SignalKind.MD5, SignalKind.SHA256):
            signal = verdict.signal(kind)
            if signal is None:
                continue
            try:
                self.banks.add_entry(
                    delegate,
                    bank,
                    EntryCreate(
                        signal=kind,
                        value=signal.value,
                        source=f"review of {verdict.id}",
                        note=f"{action.value} by {delegate.key_id}",
                    ),
                )
                added += 1
            except Conflict:
                added += 1  # the bank has it already: the decision stands
        if not added:
            raise InvalidInput("this scan has no hash a bank can hold")
        return target.id

    def _case(
        self, delegate: Principal, verdict: Verdict, case_id: str | None, title: str | None
    ) -> str:
        if not case_id:
            opened = self.cases.open(
                delegate, title=title or f"Review of {verdict.id}", language="en"
            )
            case_id = opened.case.id
        else:
            self.cases.get(delegate, case_id)
        signals = {
            kind: s.value
            for kind in (SignalKind.PDQ, SignalKind.MD5, SignalKind.SHA256)
            if (s := verdict.signal(kind)) is not None
        }
        source = verdict.source.get("url") if isinstance(verdict.source.get("url"), str) else None
        try:
            self.cases.add_hashes(delegate, case_id, signals, url=source)
        except JikimiError:
            raise
        return case_id

    def decisions(self, principal: Principal, limit: int = 50) -> list[Review]:
        _require_reviewer(principal)
        with self.store.session() as s:
            rows = s.scalars(
                sa.select(ReviewRow)
                .where(ReviewRow.tenant_id == principal.tenant_id)
                .order_by(ReviewRow.decided_at.desc())
                .limit(limit)
            )
            return [_review(r) for r in rows]

    def _row(self, s: Any, principal: Principal, scan_id: str) -> HeldMediaRow:
        row = s.get(HeldMediaRow, scan_id)
        if row is None or row.tenant_id != principal.tenant_id:
            raise NotFound(f"no held scan {scan_id!r}")
        assert isinstance(row, HeldMediaRow)
        return row


def _review(row: ReviewRow) -> Review:
    return Review(
        row.scan_id,
        ReviewAction(row.action),
        row.decided_by,
        row.decided_at,
        row.bank_id,
        row.case_id,
    )


def _soften(im: Image.Image, unblurred: bool) -> Image.Image:
    im.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    if not unblurred:
        im = im.filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    return im


def _jpeg(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.convert("L" if im.mode == "L" else "RGB").save(out, "JPEG", quality=80)
    return out.getvalue()

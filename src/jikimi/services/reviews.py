"""The review queue: held scans, their media kept sealed for a while, reviewers' decisions.

::

    ScanService.scan_many ─► HeldMedia.keep (a Verdict whose decision is ``hold``):
        its media sealed into the blob store, a ``held_media`` row (priority, time)
    ReviewService.queue ─────► held rows without a decision, by priority then age
    ReviewService.preview ───► greyscale, blurred (un-blurred only when asked: audited)
    ReviewService.decide ────► confirm (hashes into a bank, a case opened or extended),
                               dismiss (optionally into a suppression bank; media
                               deleted at once), escalate (with a reason); one audit
                               row each
    ReviewService.escalations ► escalated scans, oldest first, for a senior reviewer,
                               who confirms or dismisses them (never the one who
                               escalated): the row keeps who escalated, when, why

       held ──decide──► confirm | dismiss
         │                 ▲
         └─ escalate ──────┘  (decided by another reviewer or an admin)

Only media of held scans is ever kept, and only until ``held_media_days`` after it
was held (:meth:`HeldMedia.purge`); the row stays so the decision can still be
made from the Verdict alone. Reviewers (and admins) decide; their decision is the
authority for its consequences, so the bank entry and the case item are written on
its behalf and the audit log names the reviewer and the scan. The service reads and
writes through :mod:`jikimi.store.ui_reviews`, never ORM rows.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

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
from jikimi.store import ui_reviews as repo
from jikimi.store.ui_reviews import Held, Review, ReviewAction

log = logging.getLogger(__name__)

REVIEW_ROLES = frozenset({Role.REVIEWER, Role.ADMIN})
PREVIEW_SIDE = 480
BLUR_RADIUS = 18
STORYBOARD_FRAMES = 6
UNBLUR_MINUTES = 10


MAX_REASON = 1000
__all__ = ["REVIEW_ROLES", "HeldMedia", "QueueItem", "Review", "ReviewAction", "ReviewService"]


@dataclass(frozen=True)
class QueueItem:
    scan_id: str
    held_at: datetime
    verdict: Verdict
    has_media: bool
    media_type: str


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
                    repo.add_held(
                        s,
                        Held(
                            scan_id=verdict.id,
                            tenant_id=principal.tenant_id,
                            sha256=sha,
                            media_type=kind,
                            priority=decision.priority.severity,
                            held_at=at,
                            kept_until=at + self.keep_for,
                        ),
                    )
            except Exception:  # keeping media must never fail the scan that was stored
                log.exception("could not keep the media of held scan %s", verdict.id)

    def open(self, row: Held) -> bytes | None:
        if row.sha256 is None or not self.store.blobs.exists(row.sha256):
            return None
        return self.sealer.open(self.store.blobs.read(row.sha256), _seal_name(row.scan_id))

    def purge(self, at: datetime | None = None) -> int:
        """Delete media whose retention has passed; the rows stay (the queue still shows them)."""
        at = at or now()
        with self.store.session(write=True) as s, s.begin():
            rows = repo.expired_media(s, at)
            for row in rows:
                self.forget(s, row)
        return len(rows)

    def forget(self, s: Any, row: Held) -> None:
        """Delete a held scan's media (in the caller's transaction); the row stays."""
        if row.sha256 is not None:
            self.store.blobs.delete(row.sha256)
            repo.forget_media(s, row.scan_id)


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
            out = []
            for row in repo.undecided(s, principal.tenant_id, limit):
                record = scan_repo.get_scan(s, principal.tenant_id, row.scan_id)
                if record is not None:
                    out.append(_queue_item(row, record.verdict))
            return out

    def item(self, principal: Principal, scan_id: str) -> tuple[QueueItem, Review | None]:
        _require_reviewer(principal)
        with self.store.session() as s:
            row = self._row(s, principal, scan_id)
            record = scan_repo.get_scan(s, principal.tenant_id, scan_id)
            if record is None:
                raise NotFound(f"no held scan {scan_id!r}")
            review = repo.get_review(s, principal.tenant_id, scan_id)
            return _queue_item(row, record.verdict), review

    def seen_today(self, principal: Principal) -> int:
        """Items this reviewer has opened since midnight UTC (her count and the cap)."""
        start = now().replace(hour=0, minute=0, second=0, microsecond=0)
        with self.store.session() as s:
            return repo.count_views(s, principal.tenant_id, principal.key_id, start)

    def note_view(self, principal: Principal, scan_id: str, daily_cap: int) -> int:
        """Count an item as seen (once per item and day); :class:`Forbidden` past the cap."""
        _require_reviewer(principal)
        at = now()
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        with self.store.session(write=True) as s, s.begin():
            self._row(s, principal, scan_id)
            tenant, user = principal.tenant_id, principal.key_id
            already = repo.count_views(s, tenant, user, start, scan_id)
            count = repo.count_views(s, tenant, user, start)
            if already:
                return count
            if count >= daily_cap:
                raise Forbidden(
                    f"today's cap of {daily_cap} items is reached: take the rest of the day off"
                )
            repo.add_view(s, tenant, user, scan_id, at)
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
        return repo.unblurred_since(s, principal.tenant_id, principal.key_id, scan_id, since)

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
        reason: str | None = None,
    ) -> Review:
        """Record a decision and carry out its consequence (see the module docstring).

        An escalation needs a ``reason`` (the senior reviewer reads it); an escalated
        scan is decided (confirmed or dismissed) by someone other than who escalated it.
        """
        _require_reviewer(principal)
        item, review = self.item(principal, scan_id)
        reason = (reason or "").strip() or None
        escalated = (
            review if review is not None and review.action is ReviewAction.ESCALATE else None
        )
        self._check_decision(principal, scan_id, action, review, escalated, bank, reason)
        delegate = Principal(
            tenant_id=principal.tenant_id, key_id=principal.key_id, role=Role.ADMIN
        )
        bank_id = self._add_to_bank(delegate, bank, item.verdict, action) if bank else None
        opened_case = None
        if action is ReviewAction.CONFIRM and (case_id or case_title):
            opened_case = self._case(delegate, item.verdict, case_id, case_title)
        at = now()
        is_escalation = action is ReviewAction.ESCALATE
        decided = Review(scan_id, action, principal.key_id, at, bank_id, opened_case)
        if is_escalation:
            decided = replace(
                decided, escalated_by=principal.key_id, escalated_at=at, escalation_reason=reason
            )
        elif escalated is not None:  # the row keeps who escalated it, when and why
            decided = replace(
                decided,
                escalated_by=escalated.escalated_by,
                escalated_at=escalated.escalated_at,
                escalation_reason=escalated.escalation_reason,
            )
        with self.store.session(write=True) as s, s.begin():
            row = self._row(s, principal, scan_id)
            if escalated is None:
                if repo.get_review(s, principal.tenant_id, scan_id) is not None:
                    raise Conflict(f"scan {scan_id!r} was decided already")
                repo.add_review(s, principal.tenant_id, decided)
            elif not repo.resolve_escalation(s, principal.tenant_id, decided):
                raise Conflict(f"scan {scan_id!r} was decided already")
            if action is ReviewAction.DISMISS:
                self.held.forget(s, row)  # a false positive's media has no reason to stay
            data: dict[str, Any] = {"bank_id": bank_id, "case_id": opened_case}
            if is_escalation:
                data["reason"] = reason
            if escalated is not None:
                data["escalated_by"] = escalated.escalated_by
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
        return decided

    @staticmethod
    def _check_decision(
        principal: Principal,
        scan_id: str,
        action: ReviewAction,
        review: Review | None,
        escalated: Review | None,
        bank: str | None,
        reason: str | None,
    ) -> None:
        if review is not None and escalated is None:
            raise Conflict(f"scan {scan_id!r} was decided already ({review.action.value})")
        if escalated is not None:
            if action is ReviewAction.ESCALATE:
                raise Conflict(f"scan {scan_id!r} is escalated already")
            if escalated.escalated_by == principal.key_id:
                raise Forbidden("another reviewer decides a scan you escalated")
        if action is ReviewAction.ESCALATE:
            if bank:
                raise InvalidInput("an escalation adds nothing to a bank")
            if reason is None:
                raise InvalidInput("say why you escalate it: the senior reviewer reads it")
            if len(reason) > MAX_REASON:
                raise InvalidInput(f"a reason has at most {MAX_REASON} characters")

    def escalations(
        self, principal: Principal, *, open_only: bool = True, limit: int = 100
    ) -> list[tuple[QueueItem, Review]]:
        """Escalated scans still open (oldest first), or decided since (newest first)."""
        _require_reviewer(principal)
        with self.store.session() as s:
            out = []
            for review in repo.escalations(
                s, principal.tenant_id, open_only=open_only, limit=limit
            ):
                row = repo.get_held(s, principal.tenant_id, review.scan_id)
                record = scan_repo.get_scan(s, principal.tenant_id, review.scan_id)
                if row is not None and record is not None:
                    out.append((_queue_item(row, record.verdict), review))
            return out

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
            return repo.decisions(s, principal.tenant_id, limit)

    def _row(self, s: Any, principal: Principal, scan_id: str) -> Held:
        row = repo.get_held(s, principal.tenant_id, scan_id)
        if row is None:
            raise NotFound(f"no held scan {scan_id!r}")
        return row


def _queue_item(row: Held, verdict: Verdict) -> QueueItem:
    return QueueItem(row.scan_id, row.held_at, verdict, row.sha256 is not None, row.media_type)


def _soften(im: Image.Image, unblurred: bool) -> Image.Image:
    im.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    if not unblurred:
        im = im.filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    return im


def _jpeg(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.convert("L" if im.mode == "L" else "RGB").save(out, "JPEG", quality=80)
    return out.getvalue()

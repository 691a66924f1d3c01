"""The reviewer's queue: held scans, blurred previews, one deliberate un-blur, decisions;
and the escalation queue, where another reviewer or an admin decides what was escalated.

Wellness defaults: previews greyscale and blurred, no video plays (a blurred
storyboard of frames instead), the count of items seen today on every page, a
break reminder after the tenant's minutes (``break.js``), and the tenant's daily
cap refused by the service, not just hidden.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from jikimi.domain import BankKind
from jikimi.errors import Forbidden
from jikimi.services.accounts import SessionInfo
from jikimi.services.reviews import REVIEW_ROLES, ReviewAction
from jikimi.ui.auth import FormSessionDep, ServicesDep, SessionDep
from jikimi.ui.context import UiServices
from jikimi.ui.rendering import UiRoute, page

router = APIRouter(route_class=UiRoute, include_in_schema=False, prefix="/review")


def _reviewer(session: SessionInfo) -> None:
    if session.user.role not in REVIEW_ROLES:
        raise Forbidden(f"your role ({session.user.role.value}) cannot open the review queue")


def _common(ui: UiServices, session: SessionInfo) -> dict[str, Any]:
    return {
        "seen_today": ui.reviews.seen_today(session.principal),
        "daily_cap": session.settings.daily_cap,
        "break_minutes": session.settings.break_minutes,
    }


@router.get("")
def queue(request: Request, ui: ServicesDep, session: SessionDep, done: str = "") -> Response:
    _reviewer(session)
    items = ui.reviews.queue(session.principal)
    return page(
        request,
        "queue.html",
        session,
        items=items,
        done=done,
        decisions=ui.reviews.decisions(session.principal, limit=10),
        **_common(ui, session),
    )


def _item_page(
    request: Request, ui: UiServices, session: SessionInfo, scan_id: str, unblurred: bool
) -> Response:
    item, review = ui.reviews.item(session.principal, scan_id)
    escalated = review if review is not None and review.action is ReviewAction.ESCALATE else None
    banks = ui.app.banks.list(session.principal)
    return page(
        request,
        "review_item.html",
        session,
        item=item,
        verdict=item.verdict,
        review=None if escalated else review,
        escalated=escalated,
        names=ui.accounts.names(session.principal),
        unblurred=unblurred,
        confirm_banks=[b for b in banks if b.kind in (BankKind.TAKEDOWN, BankKind.WATCH)],
        suppression_banks=[b for b in banks if b.kind is BankKind.SUPPRESSION],
        cases=[c for c in ui.app.casework.cases.list(session.principal) if c.status == "open"],
        **_common(ui, session),
    )


@router.get("/escalations")
def escalations(request: Request, ui: ServicesDep, session: SessionDep) -> Response:
    """Scans reviewers escalated: who, why, when, a blurred preview; oldest first."""
    _reviewer(session)
    return page(
        request,
        "escalations.html",
        session,
        open=ui.reviews.escalations(session.principal),
        resolved=ui.reviews.escalations(session.principal, open_only=False, limit=20),
        names=ui.accounts.names(session.principal),
        **_common(ui, session),
    )


@router.get("/{scan_id}")
def item(request: Request, ui: ServicesDep, session: SessionDep, scan_id: str) -> Response:
    _reviewer(session)
    ui.reviews.note_view(session.principal, scan_id, session.settings.daily_cap)
    return _item_page(request, ui, session, scan_id, unblurred=False)


@router.get("/{scan_id}/preview.jpg")
def preview(ui: ServicesDep, session: SessionDep, scan_id: str, sharp: int = 0) -> Response:
    _reviewer(session)
    data = ui.reviews.preview(session.principal, scan_id, unblurred=bool(sharp))
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store, private"})


@router.post("/{scan_id}/unblur")
def unblur(request: Request, ui: ServicesDep, session: FormSessionDep, scan_id: str) -> Response:
    _reviewer(session)
    ui.reviews.unblur(session.principal, scan_id)
    return _item_page(request, ui, session, scan_id, unblurred=True)


@router.post("/{scan_id}/decide")
def decide(
    ui: ServicesDep,
    session: FormSessionDep,
    scan_id: str,
    action: Annotated[ReviewAction, Form()],
    bank: Annotated[str, Form()] = "",
    case_id: Annotated[str, Form()] = "",
    case_title: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    _reviewer(session)
    decided = ui.reviews.decide(
        session.principal,
        scan_id,
        action,
        bank=bank or None,
        case_id=case_id or None,
        case_title=case_title.strip() or None,
        reason=reason,
    )
    back = (
        "/review/escalations"
        if decided.escalated_by and action is not ReviewAction.ESCALATE
        else "/review"
    )
    return RedirectResponse(f"{back}?done={action.value}", status_code=303)

"""The caseworker's desk: cases and their clocks, items, notices side by side, hosts, report.

Every action calls the casework services with the signed-in person as the
principal, so the permissions, the lifecycles and the audit rows are those of the
API. The four-eyes rule is shown where it applies: the notice page names who
drafted it and offers approval only to someone else.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from jikimi.cases.lifecycle import CaseStatus, ItemStatus, NoticeState
from jikimi.cases.types import Contact, ContactKind, Host, Item
from jikimi.domain import Permission, SignalKind
from jikimi.errors import InvalidInput
from jikimi.notices import LegalBasis, NoticeItem
from jikimi.services.accounts import SessionInfo
from jikimi.services.cases import HostSpec
from jikimi.ui import charts
from jikimi.ui.auth import FormSessionDep, ServicesDep, SessionDep, require_page
from jikimi.ui.context import UiServices
from jikimi.ui.rendering import UiRoute, page

router = APIRouter(route_class=UiRoute, include_in_schema=False, prefix="/desk")

_DONE = (ItemStatus.REMOVED, ItemStatus.WITHDRAWN)


def _hosts(ui: UiServices, session: SessionInfo) -> dict[str, Host]:
    return {h.id: h for h in ui.app.casework.hosts.list(session.principal)}


def _nearest(items: list[Item]) -> datetime | None:
    waiting = [i.deadline_at for i in items if i.deadline_at and i.status not in _DONE]
    return min(waiting) if waiting else None


@router.get("")
def cases(request: Request, ui: ServicesDep, session: SessionDep) -> Response:
    require_page(session, Permission.CASE_READ)
    service = ui.app.casework.cases
    rows: list[dict[str, Any]] = []
    for case in service.list(session.principal):
        items = service.items(session.principal, case.id)
        rows.append(
            {
                "case": case,
                "counts": Counter(i.status.value for i in items),
                "total": len(items),
                "deadline": _nearest(items),
            }
        )
    far = datetime.max.replace(tzinfo=UTC)
    rows.sort(key=lambda r: (r["case"].status != CaseStatus.OPEN, r["deadline"] or far))
    overdue = ui.app.casework.reports.overdue(session.principal)
    return page(request, "cases.html", session, rows=rows, overdue=overdue)


@router.post("/cases")
def open_case(
    request: Request,
    ui: ServicesDep,
    session: FormSessionDep,
    title: Annotated[str, Form()],
    language: Annotated[str, Form()] = "ko",
    contact: Annotated[str, Form()] = "",
) -> Response:
    opened = ui.app.casework.cases.open(
        session.principal, title=title, language=language, victim_contact=contact or None
    )
    return _case_page(request, ui, session, opened.case.id, pin=opened.pin)


def _case_page(
    request: Request, ui: UiServices, session: SessionInfo, case_id: str, pin: str | None = None
) -> Response:
    service = ui.app.casework.cases
    case = service.get(session.principal, case_id)
    items = service.items(session.principal, case_id)
    notices = ui.app.casework.notices.list(session.principal, case_id)
    return page(
        request,
        "case.html",
        session,
        case=case,
        items=items,
        notices=notices,
        hosts=_hosts(ui, session),
        pin=pin,
        item_statuses=[s.value for s in ItemStatus],
        done=_DONE,
    )


@router.get("/cases/{case_id}")
def case(request: Request, ui: ServicesDep, session: SessionDep, case_id: str) -> Response:
    require_page(session, Permission.CASE_READ)
    return _case_page(request, ui, session, case_id)


@router.post("/cases/{case_id}/items")
def add_item(
    ui: ServicesDep,
    session: FormSessionDep,
    case_id: str,
    url: Annotated[str, Form()] = "",
    host: Annotated[str, Form()] = "",
    pdq: Annotated[str, Form()] = "",
    md5: Annotated[str, Form()] = "",
    sha256: Annotated[str, Form()] = "",
) -> Response:
    service = ui.app.casework.cases
    hashes = {
        kind: value.strip()
        for kind, value in (
            (SignalKind.PDQ, pdq),
            (SignalKind.MD5, md5),
            (SignalKind.SHA256, sha256),
        )
        if value.strip()
    }
    if hashes:
        service.add_hashes(
            session.principal, case_id, hashes, host=host or None, url=url.strip() or None
        )
    elif url.strip():
        service.add_url(session.principal, case_id, url, host=host or None)
    else:
        raise InvalidInput("give the item's URL or its hashes")
    return RedirectResponse(f"/desk/cases/{case_id}", status_code=303)


@router.post("/items/{item_id}/status")
def item_status(
    ui: ServicesDep,
    session: FormSessionDep,
    item_id: str,
    status: Annotated[ItemStatus, Form()],
) -> Response:
    item = ui.app.casework.cases.set_item_status(session.principal, item_id, status)
    return RedirectResponse(f"/desk/cases/{item.case_id}", status_code=303)


@router.post("/cases/{case_id}/notices")
def draft_notice(
    ui: ServicesDep, session: FormSessionDep, case_id: str, host: Annotated[str, Form()]
) -> Response:
    notice = ui.app.casework.notices.draft(session.principal, case_id, host)
    return RedirectResponse(f"/desk/notices/{notice.id}", status_code=303)


def _languages(request: Request, chosen: str) -> str:
    if chosen:
        return chosen
    accept = request.headers.get("accept-language", "en")
    return accept.split(",")[0].split(";")[0].split("-")[0].strip() or "en"


@router.get("/notices/{notice_id}")
def notice(
    request: Request, ui: ServicesDep, session: SessionDep, notice_id: str, lang: str = ""
) -> Response:
    require_page(session, Permission.CASE_READ)
    casework = ui.app.casework
    found = casework.notices.get(session.principal, notice_id)
    case_ = casework.cases.get(session.principal, found.case_id)
    host = _hosts(ui, session).get(found.host_id)
    items = [casework.cases.get_item(session.principal, i) for i in found.item_ids]
    mine = _languages(request, lang)
    translated = casework.renderer.render(
        language=mine,
        host_name=host.name if host else "",
        items=[
            NoticeItem(
                url=i.url,
                signals=[dict(s) for s in i.signals],
                captured_at=i.created_at.isoformat(timespec="seconds"),
                evidence_sha256=i.evidence_sha256,
            )
            for i in items
        ],
        bases=[LegalBasis.parse(b) for b in found.bases],
        sender=casework.notices.options.sender,
        notice_id=found.id,
        case_number=case_.number,
    )
    four_eyes = casework.notices.options.four_eyes
    me = session.user.id
    can_approve = (
        found.state is NoticeState.DRAFT
        and session.principal.can(Permission.NOTICE_APPROVE)
        and not (four_eyes and found.drafted_by == me)
    )
    return page(
        request,
        "notice.html",
        session,
        notice=found,
        case=case_,
        host=host,
        translated=translated,
        my_language=mine,
        four_eyes=four_eyes,
        can_approve=can_approve,
        can_send=found.state is NoticeState.APPROVED
        and session.principal.can(Permission.CASE_WRITE),
        languages=["en", "ko", "ja", "zh", "vi", "es", "fr", "de", "ru"],
    )


@router.post("/notices/{notice_id}/approve")
def approve(ui: ServicesDep, session: FormSessionDep, notice_id: str) -> Response:
    ui.app.casework.notices.approve(session.principal, notice_id)
    return RedirectResponse(f"/desk/notices/{notice_id}", status_code=303)


@router.post("/notices/{notice_id}/send")
def send(ui: ServicesDep, session: FormSessionDep, notice_id: str) -> Response:
    ui.app.casework.notices.send(session.principal, notice_id)
    return RedirectResponse(f"/desk/notices/{notice_id}", status_code=303)


@router.get("/hosts")
def hosts(request: Request, ui: ServicesDep, session: SessionDep) -> Response:
    require_page(session, Permission.CASE_READ)
    listed = ui.app.casework.hosts.list(session.principal)
    return page(request, "hosts.html", session, hosts=listed, bases=[b.value for b in LegalBasis])


@router.post("/hosts")
def add_host(
    ui: ServicesDep,
    session: FormSessionDep,
    slug: Annotated[str, Form()],
    name: Annotated[str, Form()],
    language: Annotated[str, Form()] = "en",
    email: Annotated[str, Form()] = "",
    form_url: Annotated[str, Form()] = "",
    bases: Annotated[list[str] | None, Form()] = None,
) -> Response:
    contacts = []
    if email.strip():
        contacts.append(Contact(kind=ContactKind.EMAIL, value=email.strip()))
    if form_url.strip():
        contacts.append(Contact(kind=ContactKind.FORM, value=form_url.strip()))
    ui.app.casework.hosts.add(
        session.principal,
        HostSpec(
            slug=slug.strip(),
            name=name.strip(),
            language=language,
            contacts=tuple(contacts),
            bases=tuple(bases or ()),
        ),
    )
    return RedirectResponse("/desk/hosts", status_code=303)


def _day(text: str, default: datetime) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC) if text else default
    except ValueError as exc:
        raise InvalidInput(f"a date is YYYY-MM-DD, not {text!r}") from exc


@router.get("/report")
def report(
    request: Request, ui: ServicesDep, session: SessionDep, start: str = "", end: str = ""
) -> Response:
    require_page(session, Permission.CASE_READ)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    t1 = _day(end, today) + timedelta(days=1) if end else today + timedelta(days=1)
    t0 = _day(start, t1 - timedelta(days=30))
    casework = ui.app.casework
    figures = casework.reports.report(session.principal, t0, t1)
    removed: list[Item] = []
    for c in casework.cases.list(session.principal):
        for i in casework.cases.items(session.principal, c.id):
            if i.removed_at is not None and t0 <= i.removed_at < t1:
                removed.append(i)
    days = max(1, (t1 - t0).days)
    per_day = Counter(i.removed_at.date() for i in removed if i.removed_at)
    labels = [(t0 + timedelta(days=d)).strftime("%m-%d") for d in range(days)]
    values = [float(per_day.get((t0 + timedelta(days=d)).date(), 0)) for d in range(days)]
    hours = [
        (i.removed_at - i.notified_at).total_seconds() / 3600
        for i in removed
        if i.removed_at and i.notified_at
    ]
    return page(
        request,
        "report.html",
        session,
        report=figures,
        start=t0.strftime("%Y-%m-%d"),
        end=(t1 - timedelta(days=1)).strftime("%Y-%m-%d"),
        removals_chart=charts.bars("Removals per day", labels, values, " removed"),
        hours_chart=charts.histogram_hours("Hours from notice to removal", hours),
    )

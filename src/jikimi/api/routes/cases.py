"""``/v1/hosts``, ``/v1/cases``, ``/v1/items``, ``/v1/notices``: the takedown loop over HTTP.

Thin: each route parses, calls one casework service, and renders. The services
check roles and tenants and write the audit trail; ``GET /v1/cases/{id}/history``
shows a case's part of it.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from jikimi.api.case_schemas import (
    AuditEntryPublic,
    AuditHistory,
    AuditVerification,
    CaseCreate,
    CaseList,
    CaseOpenedPublic,
    CasePublic,
    CaseStatusUpdate,
    HostCreate,
    HostList,
    HostPublic,
    ItemCreate,
    ItemList,
    ItemPublic,
    ItemStatusUpdate,
    NoticeDraft,
    NoticeList,
    NoticePublic,
    NoticeSent,
    ReportPublic,
    ReportRow,
    SourceRiskPublic,
    VictimItem,
    VictimStatus,
    VictimStatusRequest,
)
from jikimi.api.deps import ContextDep, PrincipalDep
from jikimi.api.problems import error_responses
from jikimi.audit.chain import Checkpoint
from jikimi.cases.lifecycle import CaseStatus
from jikimi.domain import Permission, SignalKind
from jikimi.errors import InvalidInput
from jikimi.services._common import require
from jikimi.services.cases import HostSpec
from jikimi.services.casework import Casework
from jikimi.store import audit as audit_repo

router = APIRouter(tags=["cases"])


def _casework(context: ContextDep) -> Casework:
    return context.casework


CaseworkDep = Annotated[Casework, Depends(_casework)]

# --- hosts -------------------------------------------------------------------------------


@router.get(
    "/v1/hosts",
    response_model=HostList,
    summary="The tenant's hosts",
    responses=error_responses(401, 403),
)
def list_hosts(principal: PrincipalDep, work: CaseworkDep) -> HostList:
    return HostList(hosts=[HostPublic.of(h) for h in work.hosts.list(principal)])


@router.post(
    "/v1/hosts",
    response_model=HostPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Add a host and how it takes removal requests",
    responses=error_responses(401, 403, 409, 422),
)
def add_host(body: HostCreate, principal: PrincipalDep, work: CaseworkDep) -> HostPublic:
    spec = HostSpec(
        slug=body.slug,
        name=body.name,
        language=body.language,
        contacts=tuple(body.contacts),
        bases=tuple(body.bases),
        jurisdiction=body.jurisdiction,
        api_secret=body.api_secret,
        removal_markers=tuple(body.removal_markers),
        regulator=body.regulator,
    )
    return HostPublic.of(work.hosts.add(principal, spec))


@router.get(
    "/v1/hosts/{slug}",
    response_model=HostPublic,
    summary="One host",
    responses=error_responses(401, 403, 404),
)
def get_host(slug: str, principal: PrincipalDep, work: CaseworkDep) -> HostPublic:
    return HostPublic.of(work.hosts.get(principal, slug))


# --- cases -------------------------------------------------------------------------------


@router.post(
    "/v1/cases",
    response_model=CaseOpenedPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Open a case; the victim's PIN is in this response only",
    responses=error_responses(401, 403, 422),
)
def open_case(body: CaseCreate, principal: PrincipalDep, work: CaseworkDep) -> CaseOpenedPublic:
    opened = work.cases.open(
        principal,
        title=body.title,
        language=body.language,
        victim_contact=body.victim_contact,
        takedown_bank_id=body.takedown_bank,
    )
    return CaseOpenedPublic(case=CasePublic.of(opened.case), pin=opened.pin)


@router.get(
    "/v1/cases",
    response_model=CaseList,
    summary="The tenant's cases, newest first",
    responses=error_responses(401, 403),
)
def list_cases(
    principal: PrincipalDep,
    work: CaseworkDep,
    case_status: Annotated[CaseStatus | None, Query(alias="status")] = None,
) -> CaseList:
    return CaseList(cases=[CasePublic.of(c) for c in work.cases.list(principal, case_status)])


@router.get(
    "/v1/cases/{case_id}",
    response_model=CasePublic,
    summary="One case",
    responses=error_responses(401, 403, 404),
)
def get_case(case_id: str, principal: PrincipalDep, work: CaseworkDep) -> CasePublic:
    return CasePublic.of(work.cases.get(principal, case_id))


@router.post(
    "/v1/cases/{case_id}/status",
    response_model=CasePublic,
    summary="Close or re-open a case",
    responses=error_responses(401, 403, 404, 409),
)
def set_case_status(
    case_id: str, body: CaseStatusUpdate, principal: PrincipalDep, work: CaseworkDep
) -> CasePublic:
    return CasePublic.of(work.cases.set_status(principal, case_id, body.status))


@router.get(
    "/v1/cases/{case_id}/history",
    response_model=AuditHistory,
    summary="Every recorded change to the case, its items and notices",
    responses=error_responses(401, 403, 404),
)
def case_history(case_id: str, principal: PrincipalDep, work: CaseworkDep) -> AuditHistory:
    require(principal, Permission.CASE_READ)
    work.cases.get(principal, case_id)
    items = [i.id for i in work.cases.items(principal, case_id)]
    notices = [n.id for n in work.notices.list(principal, case_id)]
    things = [("case", case_id)] + [("item", i) for i in items] + [("notice", n) for n in notices]
    with work.store.session() as s:
        entries = [
            e
            for kind, thing in things
            for e in audit_repo.history(s, principal.tenant_id, kind, thing)
        ]
    entries.sort(key=lambda e: e.seq)
    return AuditHistory(
        entries=[
            AuditEntryPublic(
                seq=e.seq,
                at=e.at,
                actor=e.actor,
                entity=e.entity,
                entity_id=e.entity_id,
                action=e.action,
                data=dict(e.data),
                digest=e.digest,
            )
            for e in entries
        ]
    )


# --- items -------------------------------------------------------------------------------


@router.post(
    "/v1/cases/{case_id}/items",
    response_model=ItemPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Add an item: a URL (captured now) or hashes a victim made on her device",
    responses=error_responses(401, 403, 404, 422),
)
def add_item(
    case_id: str, body: ItemCreate, principal: PrincipalDep, work: CaseworkDep
) -> ItemPublic:
    hashes = {
        kind: value
        for kind, value in (
            (SignalKind.PDQ, body.pdq),
            (SignalKind.MD5, body.md5),
            (SignalKind.SHA256, body.sha256),
        )
        if value is not None
    }
    if hashes:
        item = work.cases.add_hashes(
            principal, case_id, hashes, host=body.host, source=body.source, url=body.url
        )
    elif body.url:
        item = work.cases.add_url(principal, case_id, body.url, host=body.host, source=body.source)
    else:
        raise InvalidInput("give a url, or at least one of pdq, md5, sha256")
    return ItemPublic.of(item)


@router.get(
    "/v1/cases/{case_id}/items",
    response_model=ItemList,
    summary="A case's items",
    responses=error_responses(401, 403, 404),
)
def list_items(case_id: str, principal: PrincipalDep, work: CaseworkDep) -> ItemList:
    return ItemList(items=[ItemPublic.of(i) for i in work.cases.items(principal, case_id)])


@router.get(
    "/v1/items/{item_id}",
    response_model=ItemPublic,
    summary="One item",
    responses=error_responses(401, 403, 404),
)
def get_item(item_id: str, principal: PrincipalDep, work: CaseworkDep) -> ItemPublic:
    return ItemPublic.of(work.cases.get_item(principal, item_id))


@router.post(
    "/v1/items/{item_id}/status",
    response_model=ItemPublic,
    summary="Move an item by hand (withdraw a mistake, confirm a removal)",
    responses=error_responses(401, 403, 404, 409),
)
def set_item_status(
    item_id: str, body: ItemStatusUpdate, principal: PrincipalDep, work: CaseworkDep
) -> ItemPublic:
    return ItemPublic.of(work.cases.set_item_status(principal, item_id, body.status, body.reason))


@router.post(
    "/v1/items/{item_id}/recapture",
    response_model=ItemPublic,
    summary="Try an unreachable item's URL again now (pending when captured)",
    responses=error_responses(401, 403, 404, 409),
)
def recapture_item(item_id: str, principal: PrincipalDep, work: CaseworkDep) -> ItemPublic:
    return ItemPublic.of(work.cases.recapture(principal, item_id))


# --- notices -------------------------------------------------------------------------------


@router.post(
    "/v1/notices",
    response_model=NoticePublic,
    status_code=status.HTTP_201_CREATED,
    summary="Draft a notice to one host listing the case's items there",
    responses=error_responses(401, 403, 404, 422),
)
def draft_notice(body: NoticeDraft, principal: PrincipalDep, work: CaseworkDep) -> NoticePublic:
    return NoticePublic.of(work.notices.draft(principal, body.case, body.host, body.bases))


@router.get(
    "/v1/notices",
    response_model=NoticeList,
    summary="Notices, of one case or all",
    responses=error_responses(401, 403),
)
def list_notices(principal: PrincipalDep, work: CaseworkDep, case: str | None = None) -> NoticeList:
    return NoticeList(notices=[NoticePublic.of(n) for n in work.notices.list(principal, case)])


@router.get(
    "/v1/notices/{notice_id}",
    response_model=NoticePublic,
    summary="One notice",
    responses=error_responses(401, 403, 404),
)
def get_notice(notice_id: str, principal: PrincipalDep, work: CaseworkDep) -> NoticePublic:
    return NoticePublic.of(work.notices.get(principal, notice_id))


@router.post(
    "/v1/notices/{notice_id}/approve",
    response_model=NoticePublic,
    summary="Approve a draft (another key than the drafter's)",
    responses=error_responses(401, 403, 404, 409),
)
def approve_notice(notice_id: str, principal: PrincipalDep, work: CaseworkDep) -> NoticePublic:
    return NoticePublic.of(work.notices.approve(principal, notice_id))


@router.post(
    "/v1/notices/{notice_id}/send",
    response_model=NoticePublic,
    summary="Queue an approved notice for delivery (e-mail or the host's API)",
    responses=error_responses(401, 403, 404, 409, 422),
)
def send_notice(notice_id: str, principal: PrincipalDep, work: CaseworkDep) -> NoticePublic:
    return NoticePublic.of(work.notices.send(principal, notice_id))


@router.post(
    "/v1/notices/{notice_id}/sent",
    response_model=NoticePublic,
    summary="Record that a person submitted the notice by hand (web-form hosts)",
    responses=error_responses(401, 403, 404, 409),
)
def mark_notice_sent(
    notice_id: str, body: NoticeSent, principal: PrincipalDep, work: CaseworkDep
) -> NoticePublic:
    return NoticePublic.of(work.notices.mark_sent(principal, notice_id, body.note))


@router.post(
    "/v1/notices/{notice_id}/discard",
    response_model=NoticePublic,
    summary="Discard a notice that was not sent",
    responses=error_responses(401, 403, 404, 409),
)
def discard_notice(notice_id: str, principal: PrincipalDep, work: CaseworkDep) -> NoticePublic:
    return NoticePublic.of(work.notices.discard(principal, notice_id))


# --- reports, overdue, sources, audit, the victim's status -------------------------------


def _as_utc(value: date | datetime) -> datetime:
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@router.get(
    "/v1/reports",
    response_model=ReportPublic,
    response_model_by_alias=True,
    summary="Per host: items notified in a period and what became of them (JSON or CSV)",
    responses={
        **error_responses(401, 403, 422),
        200: {"content": {"text/csv": {}}, "description": "The report"},
    },
)
def report(
    principal: PrincipalDep,
    work: CaseworkDep,
    start: Annotated[date | datetime, Query(alias="from")],
    end: Annotated[date | datetime, Query(alias="to", description="Exclusive; a date = its end.")],
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    until = _as_utc(end) + (timedelta(days=1) if not isinstance(end, datetime) else timedelta())
    found = work.reports.report(principal, _as_utc(start), until)
    if format == "csv":
        return Response(found.as_csv(), media_type="text/csv; charset=utf-8")
    return ReportPublic(
        start=found.start,
        end=found.end,
        hosts=[ReportRow(**asdict(h)) for h in found.hosts],
        total=ReportRow(**asdict(found.total)),
    )


@router.get(
    "/v1/reports/overdue",
    response_model=ItemList,
    summary="Items past their deadline that are not confirmed gone, oldest deadline first",
    responses=error_responses(401, 403),
)
def overdue(principal: PrincipalDep, work: CaseworkDep) -> ItemList:
    return ItemList(items=[ItemPublic.of(i) for i in work.reports.overdue(principal)])


@router.get(
    "/v1/sources/{source_id}",
    response_model=SourceRiskPublic,
    summary="An account or channel that posts items, with its risk score and the reasons",
    responses=error_responses(401, 403, 404),
)
def source_risk(source_id: str, principal: PrincipalDep, work: CaseworkDep) -> SourceRiskPublic:
    risk = work.reports.source_risk(principal, source_id)
    return SourceRiskPublic(
        id=risk.source.id,
        handle=risk.source.handle,
        host_id=risk.source.host_id,
        items=risk.items,
        confirmed=risk.confirmed,
        reappeared=risk.reappeared,
        items_last_7d=risk.items_last_7d,
        score=risk.score,
        reasons=list(risk.reasons),
        scans=risk.scans,
        scans_flagged=risk.scans_flagged,
    )


@router.get(
    "/v1/audit/verify",
    response_model=AuditVerification,
    summary="Check the whole hash-chained audit log (optionally against a saved head)",
    responses=error_responses(401, 403, 422),
)
def verify_audit(
    principal: PrincipalDep,
    work: CaseworkDep,
    seq: Annotated[int | None, Query(ge=1, description="A saved head's row number.")] = None,
    digest: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
) -> AuditVerification:
    if (seq is None) != (digest is None):
        raise InvalidInput("a checkpoint is a seq and a digest, both or neither")
    point = Checkpoint(seq, digest) if seq is not None and digest is not None else None
    found = work.reports.verify_audit(principal, point)
    return AuditVerification(
        ok=found.ok,
        checked=found.checked,
        head_seq=found.head.seq if found.head else None,
        head_digest=found.head.digest if found.head else None,
        first_bad_seq=found.first_bad_seq,
        reason=found.reason,
    )


@router.post(
    "/v1/status",
    response_model=VictimStatus,
    summary="A victim's view of her case, by case number and PIN (no API key; rate-limited)",
    responses=error_responses(404, 422, 429),
)
def victim_status(body: VictimStatusRequest, request: Request, work: CaseworkDep) -> VictimStatus:
    client = request.client.host if request.client else "unknown"
    view = work.reports.victim_status(body.number, body.pin, client)
    return VictimStatus(
        number=view.number,
        status=CaseStatus(view.status),
        items=[VictimItem(**asdict(i)) for i in view.items],
        notices_sent=view.notices_sent,
        removed=view.removed,
    )

"""``/v1/hosts``, ``/v1/cases``, ``/v1/items``, ``/v1/notices``: the takedown loop over HTTP.

Thin: each route parses, calls one casework service, and renders. The services
check roles and tenants and write the audit trail; ``GET /v1/cases/{id}/history``
shows a case's part of it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from jikimi.api.case_schemas import (
    AuditEntryPublic,
    AuditHistory,
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
)
from jikimi.api.deps import ContextDep, PrincipalDep
from jikimi.api.problems import error_responses
from jikimi.cases.lifecycle import CaseStatus
from jikimi.domain import Permission
from jikimi.errors import InvalidInput
from jikimi.model import SignalKind
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

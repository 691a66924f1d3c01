"""``/v1/banks``: create, list, read, change, share and delete banks.

A bank is addressed by its name (or ``bnk_…`` id); another tenant's banks are
404, never 403, so their names do not leak (see :mod:`jikimi.services.banks`).
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from jikimi.api.deps import BanksDep, PrincipalDep
from jikimi.api.problems import error_responses
from jikimi.api.schemas import BankCreate, BankList, BankPublic, BankShare, BankUpdate

router = APIRouter(prefix="/v1/banks", tags=["banks"])


@router.get(
    "",
    response_model=BankList,
    summary="The caller's banks, then banks shared with it",
    responses=error_responses(401, 403),
)
def list_banks(principal: PrincipalDep, banks: BanksDep) -> BankList:
    return BankList(banks=[BankPublic.of(b) for b in banks.list(principal)])


@router.post(
    "",
    response_model=BankPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Create a bank",
    responses=error_responses(401, 403, 409, 413, 422),
)
def create_bank(body: BankCreate, principal: PrincipalDep, banks: BanksDep) -> BankPublic:
    return BankPublic.of(banks.create(principal, body.to_domain()))


@router.get(
    "/{name}",
    response_model=BankPublic,
    summary="One bank",
    responses=error_responses(401, 403, 404),
)
def get_bank(name: str, principal: PrincipalDep, banks: BanksDep) -> BankPublic:
    return BankPublic.of(banks.get(principal, name))


@router.patch(
    "/{name}",
    response_model=BankPublic,
    summary="Change a bank's kind, threshold, dihedral matching, labels or state",
    responses=error_responses(401, 403, 404, 413, 422),
)
def update_bank(
    name: str, body: BankUpdate, principal: PrincipalDep, banks: BanksDep
) -> BankPublic:
    return BankPublic.of(banks.update(principal, name, body.to_domain()))


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a bank and all its entries (they stop matching at once)",
    responses=error_responses(401, 403, 404),
)
def delete_bank(name: str, principal: PrincipalDep, banks: BanksDep) -> Response:
    banks.delete(principal, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{name}/shares",
    response_model=BankPublic,
    summary="Share a bank (read and match only) with another tenant",
    responses=error_responses(401, 403, 404, 413, 422),
)
def share_bank(name: str, body: BankShare, principal: PrincipalDep, banks: BanksDep) -> BankPublic:
    return BankPublic.of(banks.share(principal, name, body.tenant))


@router.delete(
    "/{name}/shares/{tenant}",
    response_model=BankPublic,
    summary="Stop sharing a bank with a tenant",
    responses=error_responses(401, 403, 404),
)
def unshare_bank(name: str, tenant: str, principal: PrincipalDep, banks: BanksDep) -> BankPublic:
    return BankPublic.of(banks.unshare(principal, name, tenant))

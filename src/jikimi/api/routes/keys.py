"""``/v1/keys``: an admin issues, lists and revokes its tenant's API keys.

A new key's secret is in the response of ``POST /v1/keys`` and nowhere else,
ever. Revoked keys stay listed (with ``revoked_at``) for the audit trail.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from jikimi.api.deps import KeysDep, PrincipalDep
from jikimi.api.problems import error_responses
from jikimi.api.schemas import IssuedKeyPublic, KeyCreate, KeyList, KeyPublic

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.get(
    "",
    response_model=KeyList,
    summary="The tenant's API keys (never their secrets)",
    responses=error_responses(401, 403),
)
def list_keys(principal: PrincipalDep, keys: KeysDep) -> KeyList:
    return KeyList(keys=[KeyPublic.of(k) for k in keys.list(principal)])


@router.post(
    "",
    response_model=IssuedKeyPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Issue a key; its secret is shown in this response only",
    responses=error_responses(401, 403, 413, 422),
)
def issue_key(body: KeyCreate, principal: PrincipalDep, keys: KeysDep) -> IssuedKeyPublic:
    return IssuedKeyPublic.of(keys.issue(principal, body.role, body.name))


@router.post(
    "/{key_id}/revoke",
    response_model=KeyPublic,
    summary="Revoke a key: its next request is refused",
    responses=error_responses(401, 403, 404),
)
def revoke_key(key_id: str, principal: PrincipalDep, keys: KeysDep) -> KeyPublic:
    return KeyPublic.of(keys.revoke(principal, key_id))

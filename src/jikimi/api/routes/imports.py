"""``/v1/banks/{name}/imports`` and ``/v1/imports/{import_id}``: the records of imports.

Each ``POST /v1/banks/{name}/import`` is recorded (see
:mod:`jikimi.services.imports`); these read the records, so an import whose
connection dropped (or whose server died) can be found, with how far it got, and
resumed. Only the caller's tenant's imports are ever listed or shown.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from jikimi.api.deps import BanksDep, PrincipalDep
from jikimi.api.problems import error_responses
from jikimi.api.schemas import ImportList, ImportPublic

router = APIRouter(tags=["entries"])


@router.get(
    "/v1/banks/{name}/imports",
    response_model=ImportList,
    summary="Imports into a bank, newest first: state, rows committed, counts",
    responses=error_responses(401, 403, 404, 422),
)
def list_imports(
    name: str,
    principal: PrincipalDep,
    banks: BanksDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ImportList:
    return ImportList(
        imports=[ImportPublic.of(i) for i in banks.list_imports(principal, name, limit)]
    )


@router.get(
    "/v1/imports/{import_id}",
    response_model=ImportPublic,
    summary="One import: state, rows committed, counts, the first row errors",
    responses=error_responses(401, 403, 404),
)
def get_import(import_id: str, principal: PrincipalDep, banks: BanksDep) -> ImportPublic:
    return ImportPublic.of(banks.get_import(principal, import_id))

"""``GET /v1/reports/sor`` and ``/v1/reports/sor/items``: DSA statements of reasons.

The export a platform reviews and submits to the EU DSA Transparency Database
(:mod:`jikimi.services.sor`): for its scans that removed, held or labelled content
(any key that reads scans), or for case items confirmed removed after a notice
(keys that read cases). ``format=csv`` gives one row per statement.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from jikimi.api.deps import ContextDep, PrincipalDep
from jikimi.api.problems import error_responses
from jikimi.services.sor import EEA, SorOptions, StatementsOfReasons, as_csv, as_json

router = APIRouter(tags=["reports"])

From = Annotated[date | datetime, Query(alias="from")]
To = Annotated[date | datetime, Query(alias="to", description="Exclusive; a date = its end.")]
Format = Annotated[str, Query(pattern="^(json|csv)$")]
Territory = Annotated[
    list[str] | None,
    Query(
        description="ISO 3166-1 alpha-2 codes where the decision applies (repeat the "
        "parameter); default: the EEA.",
    ),
]
Language = Annotated[
    str | None, Query(pattern="^[a-z]{2}$", description="ISO 639-1 language of the content.")
]
Reference = Annotated[
    str | None,
    Query(max_length=500, description="The platform's public policy URL (decision ground)."),
]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses(401, 403, 422),
    200: {
        "content": {"application/json": {}, "text/csv": {}},
        "description": '{"statements": [...]} or CSV, named as in the Transparency Database',
    },
}


def _period(start: date | datetime, end: date | datetime) -> tuple[datetime, datetime]:
    def utc(value: date | datetime) -> datetime:
        if not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    until = utc(end) + (timedelta(days=1) if not isinstance(end, datetime) else timedelta())
    return utc(start), until


def _options(territory: list[str] | None, language: str | None, ref: str | None) -> SorOptions:
    scope = tuple(sorted({t.strip().upper() for t in territory})) if territory else EEA
    return SorOptions(territorial_scope=scope, content_language=language, reference_url=ref)


def _answer(statements: list[dict[str, Any]], fmt: str) -> Response:
    if fmt == "csv":
        return Response(as_csv(statements), media_type="text/csv; charset=utf-8")
    return Response(as_json(statements), media_type="application/json")


@router.get(
    "/v1/reports/sor",
    summary="DSA statements of reasons for the scans that removed, held or labelled content",
    responses=_RESPONSES,
)
def scan_statements(
    principal: PrincipalDep,
    context: ContextDep,
    start: From,
    end: To,
    format: Format = "json",
    territory: Territory = None,
    language: Language = None,
    reference_url: Reference = None,
) -> Response:
    begin, until = _period(start, end)
    sor = StatementsOfReasons(context.casework.store)
    found = sor.for_scans(principal, begin, until, _options(territory, language, reference_url))
    return _answer(found, format)


@router.get(
    "/v1/reports/sor/items",
    summary="DSA statements of reasons for case items confirmed removed after a notice",
    responses=_RESPONSES,
)
def item_statements(
    principal: PrincipalDep,
    context: ContextDep,
    start: From,
    end: To,
    format: Format = "json",
    territory: Territory = None,
    language: Language = None,
    reference_url: Reference = None,
) -> Response:
    begin, until = _period(start, end)
    sor = StatementsOfReasons(context.casework.store)
    found = sor.for_items(principal, begin, until, _options(territory, language, reference_url))
    return _answer(found, format)

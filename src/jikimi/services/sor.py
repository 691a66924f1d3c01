"""Statements of reasons (EU DSA Art. 17) for the DSA Transparency Database, JSON or CSV.

A platform that restricts content must tell the uploader why, and (Art. 24(5))
send each statement to the Commission's Transparency Database. This export turns
what jikimi decided into those statements, field for field with the database's
statement-of-reasons submission schema (``decision_visibility``, ``category``,
``decision_ground``, ``automated_detection``, ``puid``…), so a platform can review
and submit them (the database's API takes the same names; jikimi never connects
to it):

* :meth:`StatementsOfReasons.for_scans`: every stored scan of the tenant in a
  period whose decision restricted the content (``remove``, ``hold``, ``label``);
  found by the platform's own detection (``SOURCE_VOLUNTARY``), decided by rules,
  so ``automated_detection`` is ``Yes``; a removal on a bank match is fully
  automated, a hold waits for a person (partially automated);
* :meth:`StatementsOfReasons.for_items`: case items confirmed removed in a period
  after a notice (``SOURCE_ARTICLE_16`` when the notice was a DSA Art. 16 notice),
  found and approved by people: not automated.

Categories: matches in takedown or watch banks, a registered person's face and
synthetic sexual imagery are ``STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR`` with
``KEYWORD_NON_CONSENSUAL_IMAGE_SHARING`` (and ``KEYWORD_NON_CONSENSUAL_ITEMS_DEEPFAKE``
when there is AI-generation evidence); a decision on the grade alone is
``STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT`` on the terms of service
(incompatible content), since sexual content is not in itself illegal.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jikimi.cases.lifecycle import NoticeState
from jikimi.cases.types import Item
from jikimi.domain import Action, BankKind, MediaKind, Permission, Principal, ScanRecord, Verdict
from jikimi.services._common import require
from jikimi.store import Store
from jikimi.store import casework as case_repo
from jikimi.store import scans as scan_repo

EEA: tuple[str, ...] = (
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IS",
    "IT",
    "LI",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "NO",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
)
"""The default territorial scope: the European Economic Area."""

LEGAL_GROUND = (
    "Non-consensual sharing of intimate or manipulated material "
    "(Directive (EU) 2024/1385, Art. 5) and the national law implementing it"
)
TERMS_GROUND = "Terms of service: sexual content is not allowed without restriction"

FIELDS = (
    "puid",
    "decision_visibility",
    "decision_visibility_other",
    "decision_monetary",
    "decision_provision",
    "decision_account",
    "account_type",
    "decision_ground",
    "decision_ground_reference_url",
    "illegal_content_legal_ground",
    "illegal_content_explanation",
    "incompatible_content_ground",
    "incompatible_content_explanation",
    "incompatible_content_illegal",
    "category",
    "category_addition",
    "category_specification",
    "content_type",
    "content_type_other",
    "content_language",
    "content_date",
    "application_date",
    "territorial_scope",
    "decision_facts",
    "source_type",
    "source_identity",
    "automated_detection",
    "automated_decision",
)
"""The statement's fields, in the Transparency Database's order (CSV columns)."""

_VISIBILITY = {
    Action.REMOVE: "DECISION_VISIBILITY_CONTENT_REMOVED",
    Action.HOLD: "DECISION_VISIBILITY_CONTENT_DISABLED",
    Action.LABEL: "DECISION_VISIBILITY_CONTENT_LABELLED",
}
_ABUSE_RULES = ("person", "sexual-and-synthetic", "risky-source")


@dataclass(frozen=True)
class SorOptions:
    """What the export cannot know from the scans: where the decision applies, in what
    language the content is, and the platform's own public policy URL."""

    territorial_scope: tuple[str, ...] = EEA
    content_language: str | None = None
    reference_url: str | None = None


class StatementsOfReasons:
    def __init__(self, store: Store) -> None:
        self.store = store

    def for_scans(
        self,
        principal: Principal,
        start: datetime,
        end: datetime,
        options: SorOptions | None = None,
    ) -> list[dict[str, Any]]:
        """One statement per stored scan in ``[start, end)`` whose decision restricted it."""
        require(principal, Permission.SCAN_READ)
        options = options or SorOptions()
        with self.store.session() as s:
            records = scan_repo.list_scans_between(s, principal.tenant_id, start, end)
        out = []
        for record in records:
            decision = record.verdict.decision
            if decision is None or decision.action not in _VISIBILITY:
                continue
            out.append(_scan_statement(record, options))
        return out

    def for_items(
        self,
        principal: Principal,
        start: datetime,
        end: datetime,
        options: SorOptions | None = None,
    ) -> list[dict[str, Any]]:
        """One statement per case item confirmed removed in ``[start, end)``."""
        require(principal, Permission.CASE_READ)
        options = options or SorOptions()
        with self.store.session() as s:
            items = [
                i
                for i in case_repo.list_items(s, principal.tenant_id)
                if i.removed_at is not None and start <= i.removed_at < end
            ]
            bases: dict[str, set[str]] = {}
            for case_id in {i.case_id for i in items}:
                for notice in case_repo.list_notices(s, principal.tenant_id, case_id):
                    if notice.state in (NoticeState.SENT, NoticeState.ACKNOWLEDGED):
                        for item_id in notice.item_ids:
                            bases.setdefault(item_id, set()).update(notice.bases)
        return [_item_statement(i, bases.get(i.id, set()), options) for i in items]


def _blank() -> dict[str, Any]:
    return dict.fromkeys(FIELDS)


def _content_types(verdict: Verdict) -> list[str]:
    kind = verdict.media.kind if verdict.media is not None else None
    types = ["CONTENT_TYPE_VIDEO" if kind is MediaKind.VIDEO else "CONTENT_TYPE_IMAGE"]
    if verdict.synthetic is not None and any(e.kind.is_ai for e in verdict.synthetic.evidence):
        types.append("CONTENT_TYPE_SYNTHETIC_MEDIA")
    return types


def _abusive(verdict: Verdict) -> bool:
    """Rests on more than the grade: a bank match, a registered person, a deepfake, a source."""
    kinds = {m.bank_kind for m in verdict.matches or ()}
    if kinds & {BankKind.TAKEDOWN, BankKind.WATCH, None}:
        return True
    fired = verdict.decision.rules if verdict.decision is not None else ()
    return any(name.startswith(_ABUSE_RULES) for name in fired)


def _scan_statement(record: ScanRecord, options: SorOptions) -> dict[str, Any]:
    verdict = record.verdict
    decision = verdict.decision
    assert decision is not None
    row = _blank()
    explanation = " ".join(decision.reasons)
    types = _content_types(verdict)
    row.update(
        puid=record.id,
        decision_visibility=[_VISIBILITY[decision.action]],
        content_type=types,
        content_language=options.content_language,
        content_date=record.created_at.date().isoformat(),
        application_date=record.created_at.date().isoformat(),
        territorial_scope=list(options.territorial_scope),
        decision_ground_reference_url=options.reference_url,
        decision_facts=f"Automated scan {record.id}; rules: {', '.join(decision.rules)}. "
        + explanation,
        source_type="SOURCE_VOLUNTARY",
        automated_detection="Yes",
        automated_decision=(
            "AUTOMATED_DECISION_FULLY"
            if decision.action is Action.REMOVE
            else "AUTOMATED_DECISION_PARTIALLY"
        ),
    )
    if _abusive(verdict):
        row.update(_illegal(explanation, "CONTENT_TYPE_SYNTHETIC_MEDIA" in types))
    else:
        row.update(
            decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
            incompatible_content_ground=TERMS_GROUND,
            incompatible_content_explanation=explanation,
            incompatible_content_illegal="No",
            category="STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT",
            category_specification=["KEYWORD_ADULT_SEXUAL_MATERIAL"],
        )
    return row


def _illegal(explanation: str, synthetic: bool) -> dict[str, Any]:
    keywords = ["KEYWORD_NON_CONSENSUAL_IMAGE_SHARING"]
    if synthetic:
        keywords.append("KEYWORD_NON_CONSENSUAL_ITEMS_DEEPFAKE")
    return {
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "illegal_content_legal_ground": LEGAL_GROUND,
        "illegal_content_explanation": explanation,
        "category": "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR",
        "category_specification": keywords,
    }


def _item_statement(item: Item, bases: set[str], options: SorOptions) -> dict[str, Any]:
    assert item.removed_at is not None
    row = _blank()
    why = item.reason or "confirmed removed"
    explanation = (
        "Intimate imagery of a person posted without consent, reported by a victim-support "
        f"case; removed after a notice ({why})."
    )
    row.update(
        puid=item.id,
        decision_visibility=["DECISION_VISIBILITY_CONTENT_REMOVED"],
        content_type=["CONTENT_TYPE_IMAGE"],
        content_language=options.content_language,
        content_date=item.created_at.date().isoformat(),
        application_date=item.removed_at.date().isoformat(),
        territorial_scope=list(options.territorial_scope),
        decision_ground_reference_url=options.reference_url,
        decision_facts=f"Item {item.id} at {item.url or '(hash only)'}; {why}.",
        source_type="SOURCE_ARTICLE_16"
        if "dsa_art16" in bases
        else "SOURCE_TYPE_OTHER_NOTIFICATION",
        automated_detection="No",
        automated_decision="AUTOMATED_DECISION_NOT_AUTOMATED",
    )
    row.update(_illegal(explanation, synthetic=False))
    return row


def as_json(statements: Sequence[Mapping[str, Any]]) -> str:
    """The statements as the database's batch body: ``{"statements": [...]}`` (no nulls)."""
    cleaned = [{k: v for k, v in st.items() if v is not None} for st in statements]
    return json.dumps({"statements": cleaned}, ensure_ascii=False, indent=2)


def as_csv(statements: Sequence[Mapping[str, Any]]) -> str:
    """One row per statement; list fields are JSON arrays (``["CONTENT_TYPE_IMAGE"]``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(FIELDS), lineterminator="\n")
    writer.writeheader()
    for st in statements:
        writer.writerow(
            {
                k: "" if v is None else json.dumps(v) if isinstance(v, list) else v
                for k, v in st.items()
            }
        )
    return out.getvalue()

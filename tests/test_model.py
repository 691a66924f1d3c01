"""The Verdict JSON v1 contract and identifiers."""

from __future__ import annotations

import json
import re

from jikimi.domain import (
    Action,
    Decision,
    ErrorInfo,
    Grade,
    GradeLabel,
    Media,
    MediaKind,
    Priority,
    Signal,
    SignalKind,
    Synthetic,
    Verdict,
)
from jikimi.ids import new_id, ulid

CONTRACT_KEYS = {
    "schema",
    "id",
    "source",
    "media",
    "signals",
    "grade",
    "synthetic",
    "matches",
    "faces",
    "decision",
    "error",
}


def full_verdict() -> Verdict:
    return Verdict(
        id=new_id("scn"),
        source={"path": "a.jpg"},
        media=Media(
            kind=MediaKind.IMAGE, format="jpeg", width=4, height=3, bytes=10, sha256="0" * 64
        ),
        signals=(
            Signal(type=SignalKind.PDQ, value="f" * 64, quality=100),
            Signal(type=SignalKind.MD5, value="0" * 32),
        ),
        grade=Grade(label=GradeLabel.NORMAL, score=1.0),
        synthetic=Synthetic.from_evidence([]),
        matches=(),
        faces=(),
        decision=Decision(action=Action.ALLOW, priority=Priority.LOW, reasons=("ok",)),
    )


def test_verdict_json_has_the_contract_fields() -> None:
    obj = json.loads(full_verdict().to_json())
    assert set(obj) == CONTRACT_KEYS
    assert obj["schema"] == "jikimi.verdict/1"
    assert obj["media"]["duration_s"] is None and obj["media"]["frames"] == 1
    assert obj["signals"][0] == {"type": "pdq", "value": "f" * 64, "quality": 100}
    assert obj["synthetic"] == {"label": "no_evidence", "evidence": []}
    assert obj["decision"]["action"] == "allow"
    assert obj["error"] is None
    assert obj == full_verdict().to_json_dict() | {"id": obj["id"]}


def test_error_verdict_has_same_schema_and_null_fields() -> None:
    v = Verdict(
        id="scn_x", source={"path": "b"}, error=ErrorInfo(code="corrupt_media", message="m")
    )
    obj = v.to_json_dict()
    assert set(obj) == CONTRACT_KEYS
    assert obj["error"] == {"code": "corrupt_media", "message": "m"}
    assert all(obj[k] is None for k in CONTRACT_KEYS - {"schema", "id", "source", "error"})


def test_verdict_round_trips_through_json() -> None:
    v = full_verdict()
    assert Verdict.model_validate_json(v.to_json()) == v


def test_ids_are_prefixed_sortable_ulids() -> None:
    a, b = ulid(1_000), ulid(2_000)
    assert a < b and len(a) == 26
    assert re.fullmatch(r"scn_[0-9A-HJKMNP-TV-Z]{26}", new_id("scn"))
    assert len({new_id("x") for _ in range(1000)}) == 1000


def test_severity_orders() -> None:
    assert [g.severity for g in GradeLabel] == [0, 1, 2, 3]
    assert max(Action, key=lambda a: a.severity) is Action.REMOVE

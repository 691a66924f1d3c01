"""Policy: rules file validation and decisions from synthetic evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from jikimi.domain import (
    Action,
    BankKind,
    Evidence,
    EvidenceKind,
    Face,
    Grade,
    GradeLabel,
    Match,
    Priority,
    Region,
    SignalKind,
    Strength,
    Synthetic,
)
from jikimi.errors import ConfigError
from jikimi.pipeline.policy import Policy, load_rules

NONE = Synthetic.from_evidence([])
WEAK = Synthetic.from_evidence(
    [Evidence(kind=EvidenceKind.WATERMARK, strength=Strength.WEAK, detail="SD watermark")]
)
STRONG = Synthetic.from_evidence(
    [Evidence(kind=EvidenceKind.C2PA, strength=Strength.STRONG, detail="C2PA says AI")]
)

ALGORITHMIC = Synthetic.from_evidence(
    [Evidence(kind=EvidenceKind.ALGORITHMIC_MEDIA, strength=Strength.WEAK, detail="a fractal")]
)


def grade(label: GradeLabel) -> Grade:
    regions = (
        ()
        if label is GradeLabel.NORMAL
        else (Region(label="FEMALE_BREAST_EXPOSED", score=0.8, box=(1, 2, 3, 4)),)
    )
    return Grade(label=label, score=0.8, regions=regions)


def match(bank: str) -> Match:
    return Match(bank=bank, signal=SignalKind.PDQ, distance=3, entry="ent_1")


KINDS = {"TAKE": BankKind.TAKEDOWN, "WATCH": BankKind.WATCH, "SAFE": BankKind.SUPPRESSION}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.from_file(load_rules())


@pytest.mark.parametrize(
    ("label", "synthetic", "banks", "action", "priority"),
    [
        (GradeLabel.NORMAL, NONE, [], Action.ALLOW, Priority.LOW),
        (GradeLabel.SUGGESTIVE, NONE, [], Action.LABEL, Priority.LOW),
        (GradeLabel.ADULT, NONE, [], Action.LABEL, Priority.NORMAL),
        (GradeLabel.OBSCENE, NONE, [], Action.HOLD, Priority.HIGH),
        (GradeLabel.NORMAL, WEAK, [], Action.LABEL, Priority.LOW),
        (GradeLabel.ADULT, WEAK, [], Action.HOLD, Priority.URGENT),
        # algorithmicMedia is reported, but it is not AI evidence
        (GradeLabel.NORMAL, ALGORITHMIC, [], Action.ALLOW, Priority.LOW),
        (GradeLabel.ADULT, ALGORITHMIC, [], Action.LABEL, Priority.NORMAL),
        (GradeLabel.NORMAL, NONE, ["TAKE"], Action.REMOVE, Priority.URGENT),
        (GradeLabel.NORMAL, NONE, ["WATCH"], Action.HOLD, Priority.HIGH),
        # suppression silences classifier-driven rules, not bank matches
        (GradeLabel.OBSCENE, STRONG, ["SAFE"], Action.ALLOW, Priority.LOW),
        (GradeLabel.OBSCENE, NONE, ["SAFE", "TAKE"], Action.REMOVE, Priority.URGENT),
    ],
)
def test_default_rules(
    policy: Policy,
    label: GradeLabel,
    synthetic: Synthetic,
    banks: list[str],
    action: Action,
    priority: Priority,
) -> None:
    d = policy.decide(grade(label), synthetic, [match(b) for b in banks], KINDS)
    assert (d.action, d.priority) == (action, priority)
    assert d.reasons and all(r.strip() for r in d.reasons)


def test_reasons_name_the_evidence(policy: Policy) -> None:
    d = policy.decide(grade(GradeLabel.ADULT), STRONG, [match("TAKE")], KINDS)
    text = " ".join(d.reasons)
    assert "TAKE" in text
    assert "C2PA says AI" in text
    assert "FEMALE_BREAST_EXPOSED" in text


def test_suppression_reason_lists_silenced_rules(policy: Policy) -> None:
    d = policy.decide(grade(GradeLabel.OBSCENE), NONE, [match("SAFE")], KINDS)
    assert any("suppression bank SAFE" in r and "obscene" in r for r in d.reasons)


def test_custom_rules_file(tmp_path: Path) -> None:
    p = tmp_path / "rules.toml"
    p.write_text(
        '[[rule]]\nname="strict"\ngrade_at_least="suggestive"\naction="remove"\n'
        'priority="high"\nreason="no nudity at all here: {grade}"\n'
    )
    pol = Policy.from_file(load_rules(p))
    d = pol.decide(grade(GradeLabel.SUGGESTIVE), NONE, [], {})
    assert d.action is Action.REMOVE
    assert d.reasons[0].startswith("no nudity at all here: suggestive")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[[rule]\n", "not valid TOML"),
        ('[[rule]]\nname="x"\naction="explode"\nreason="r"\ngrade_at_least="adult"\n', "action"),
        ('[[rule]]\nname="x"\naction="hold"\nreason="r"\n', "no condition"),
        (
            '[[rule]]\nname="x"\naction="hold"\nreason="r"\ngrade_at_least="huge"\n',
            "grade_at_least",
        ),
        (
            '[[rule]]\nname="x"\naction="hold"\nreason="r"\nbank_kind="takedown"\ncolour=1\n',
            "colour",
        ),
    ],
)
def test_bad_rules_files_are_config_errors(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "rules.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_rules(p)


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read rules file"):
        load_rules(tmp_path / "nope.toml")


# --- truncated files -----------------------------------------------------------------


def test_truncated_file_with_nothing_else_is_held(policy: Policy) -> None:
    d = policy.decide(grade(GradeLabel.NORMAL), NONE, [], {}, truncated=True)
    assert (d.action, d.priority) == (Action.HOLD, Priority.NORMAL)
    assert any("truncated" in r for r in d.reasons)
    assert policy.decide(grade(GradeLabel.NORMAL), NONE, [], {}).action is Action.ALLOW


def test_truncation_does_not_soften_other_results(policy: Policy) -> None:
    d = policy.decide(grade(GradeLabel.NORMAL), NONE, [match("TAKE")], KINDS, truncated=True)
    assert (d.action, d.priority) == (Action.REMOVE, Priority.URGENT)
    d = policy.decide(grade(GradeLabel.ADULT), NONE, [], {}, truncated=True)
    assert d.action is Action.HOLD  # the adult label, and the hold
    assert any(r.startswith("Graded adult") for r in d.reasons)
    assert any("truncated" in r for r in d.reasons)


def test_known_safe_match_silences_the_truncation_rule(policy: Policy) -> None:
    d = policy.decide(grade(GradeLabel.NORMAL), NONE, [match("SAFE")], KINDS, truncated=True)
    assert d.action is Action.ALLOW
    assert any("truncated" in r and "suppression bank SAFE" in r for r in d.reasons)


def test_truncated_condition_in_a_rules_file(tmp_path: Path) -> None:
    p = tmp_path / "rules.toml"
    p.write_text(
        '[[rule]]\nname="cut"\ntruncated=true\naction="remove"\nreason="cut"\n'
        '[[rule]]\nname="whole-adult"\ntruncated=false\ngrade_at_least="adult"\n'
        'action="label"\nreason="whole"\n'
    )
    pol = Policy.from_file(load_rules(p))
    assert pol.decide(None, None, [], {}, truncated=True).action is Action.REMOVE
    assert pol.decide(grade(GradeLabel.ADULT), NONE, [], {}).action is Action.LABEL
    adult_cut = pol.decide(grade(GradeLabel.ADULT), NONE, [], {}, truncated=True)
    assert adult_cut.reasons == ("cut",)


def test_algorithmic_media_is_reported_without_the_ai_label() -> None:
    assert ALGORITHMIC.label.value == "no_evidence"
    assert ALGORITHMIC.evidence[0].kind.value == "algorithmic_media"
    both = Synthetic.from_evidence([*ALGORITHMIC.evidence, *WEAK.evidence])
    assert both.label.value == "evidence"


# --- registered persons (person_match) ------------------------------------------------


def face(person: str | None, similarity: float | None, t_s: float | None = None) -> Face:
    return Face(box=(1, 2, 30, 40), score=0.9, person=person, similarity=similarity, t_s=t_s)


@pytest.mark.parametrize(
    ("label", "synthetic", "faces", "action", "priority", "says"),
    [
        (GradeLabel.NORMAL, NONE, [face("per_A", 0.71)], Action.HOLD, Priority.NORMAL, "Face of"),
        (
            GradeLabel.ADULT,
            NONE,
            [face(None, 0.2), face("per_A", 0.64)],
            Action.HOLD,
            Priority.URGENT,
            "Possible intimate image of a registered person: per_A (similarity 0.64)",
        ),
        (
            GradeLabel.NORMAL,
            WEAK,
            [face("per_A", 0.9, t_s=3.0)],
            Action.HOLD,
            Priority.URGENT,
            "per_A (similarity 0.90 at 3.0 s); AI evidence: SD watermark",
        ),
        (GradeLabel.NORMAL, NONE, [face(None, 0.45)], Action.ALLOW, Priority.LOW, "No rule"),
        (GradeLabel.NORMAL, NONE, [face(None, None)], Action.ALLOW, Priority.LOW, "No rule"),
    ],
)
def test_person_match_rules(
    policy: Policy,
    label: GradeLabel,
    synthetic: Synthetic,
    faces: list[Face],
    action: Action,
    priority: Priority,
    says: str,
) -> None:
    decision = policy.decide(grade(label), synthetic, [], {}, faces)
    assert (decision.action, decision.priority) == (action, priority)
    assert any(says in r for r in decision.reasons), decision.reasons


def test_person_match_names_each_person_once_best_first(policy: Policy) -> None:
    faces = [face("per_B", 0.55), face("per_A", 0.8), face("per_B", 0.6, t_s=1.0)]
    decision = policy.decide(grade(GradeLabel.NORMAL), NONE, [], {}, faces)
    [reason] = [r for r in decision.reasons if r.startswith("Face of")]
    assert "per_A (similarity 0.80), per_B (similarity 0.60 at 1.0 s)" in reason


def test_person_match_threshold_of_a_rule(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[[rule]]\nname = "strict"\nperson_match = 0.8\naction = "hold"\nreason = "{persons}"\n',
        encoding="utf-8",
    )
    strict = Policy.from_file(load_rules(path))
    assert strict.decide(None, None, [], {}, [face("per_A", 0.79)]).action is Action.ALLOW
    held = strict.decide(None, None, [], {}, [face("per_A", 0.8)])
    assert held.action is Action.HOLD and held.reasons == ("per_A (similarity 0.80)",)


def test_a_face_match_alone_never_removes(policy: Policy) -> None:
    for label in GradeLabel:
        for synthetic in (NONE, WEAK, STRONG):
            decision = policy.decide(grade(label), synthetic, [], {}, [face("per_A", 0.99)])
            assert decision.action is Action.HOLD

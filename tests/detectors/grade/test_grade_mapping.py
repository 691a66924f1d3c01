"""The grade table: every row, its threshold edges, overrides from TOML, bad configs.

All regions here are synthetic (a label, a score, a box): this is how the
nudity grades are tested without any sexual imagery. The last tests run real
detections on benign photos through the table.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from typing import Any

import pytest
from grade_helpers import COLOUR_WHEEL, NATURAL_PHOTOS, conformance_photos

from jikimi.detectors.grade import LABELS, DetectorLabel, GradeDetector, GradeRule, GradeRules
from jikimi.domain import Grade, GradeLabel, Region
from jikimi.errors import ConfigError
from jikimi.media import Picture
from jikimi.pipeline.policy import load_rules

NORMAL, SUGGESTIVE = GradeLabel.NORMAL, GradeLabel.SUGGESTIVE
ADULT, OBSCENE = GradeLabel.ADULT, GradeLabel.OBSCENE

DEFAULT_TABLE = {
    "FEMALE_GENITALIA_EXPOSED": OBSCENE,
    "MALE_GENITALIA_EXPOSED": OBSCENE,
    "ANUS_EXPOSED": OBSCENE,
    "FEMALE_BREAST_EXPOSED": ADULT,
    "BUTTOCKS_EXPOSED": ADULT,
    "FEMALE_GENITALIA_COVERED": SUGGESTIVE,
    "FEMALE_BREAST_COVERED": SUGGESTIVE,
    "BUTTOCKS_COVERED": SUGGESTIVE,
    "ANUS_COVERED": SUGGESTIVE,
    "FACE_FEMALE": NORMAL,
    "FACE_MALE": NORMAL,
    "MALE_BREAST_EXPOSED": NORMAL,
    "BELLY_EXPOSED": NORMAL,
    "BELLY_COVERED": NORMAL,
    "ARMPITS_EXPOSED": NORMAL,
    "ARMPITS_COVERED": NORMAL,
    "FEET_EXPOSED": NORMAL,
    "FEET_COVERED": NORMAL,
}


def region(label: str, score: float) -> Region:
    return Region(label=label, score=score, box=(1, 2, 30, 40))


def test_the_table_covers_every_detector_label() -> None:
    assert set(DEFAULT_TABLE) == {label.value for label in LABELS}


@pytest.mark.parametrize(("label", "grade"), sorted(DEFAULT_TABLE.items()))
def test_each_label_sets_its_grade_at_full_confidence(label: str, grade: GradeLabel) -> None:
    g = GradeRules().grade([region(label, 0.99)])
    assert g.label is grade
    assert g.score == pytest.approx(0.99 if grade is not NORMAL else 1.0)
    assert g.regions == (region(label, 0.99),)


@pytest.mark.parametrize(
    ("grade", "label"),
    [(SUGGESTIVE, "BUTTOCKS_COVERED"), (ADULT, "FEMALE_BREAST_EXPOSED"), (OBSCENE, "ANUS_EXPOSED")],
)
def test_threshold_edges(grade: GradeLabel, label: str) -> None:
    rules = GradeRules()
    row = rules.rule(grade)
    assert row is not None
    at = rules.grade([region(label, row.min_score)])
    below = rules.grade([region(label, row.min_score - 1e-6)])
    assert at.label is grade and at.score == row.min_score  # the minimum counts
    assert below.label is NORMAL
    assert below.score == pytest.approx(1 - (row.min_score - 1e-6))  # a near miss


def test_default_thresholds_are_ordered_by_severity() -> None:
    rules = GradeRules()
    assert rules.obscene.min_score <= rules.adult.min_score <= rules.suggestive.min_score


def test_most_severe_grade_wins_and_scores_its_own_regions() -> None:
    regions = [
        region("FACE_FEMALE", 0.95),
        region("BUTTOCKS_COVERED", 0.9),
        region("FEMALE_BREAST_EXPOSED", 0.6),
        region("BUTTOCKS_EXPOSED", 0.7),
        region("ANUS_EXPOSED", 0.2),  # below the obscene threshold
    ]
    g = GradeRules().grade(regions)
    assert g.label is ADULT
    assert g.score == pytest.approx(0.7)  # best region of the winning grade, not 0.95
    assert g.regions == tuple(regions)  # every region is kept, faces included


def test_normal_scores() -> None:
    rules = GradeRules()
    assert rules.grade([]) == Grade(label=NORMAL, score=1.0, regions=())
    faces = rules.grade([region("FACE_MALE", 0.9), region("FEET_EXPOSED", 0.8)])
    assert (faces.label, faces.score) == (NORMAL, 1.0)  # ungraded labels are not near misses
    near = rules.grade([region("FACE_MALE", 0.9), region("FEMALE_BREAST_COVERED", 0.3)])
    assert (near.label, near.score) == (NORMAL, pytest.approx(0.7))


def test_labels_the_detector_does_not_know_are_ignored() -> None:
    assert GradeRules().grade([region("SOMETHING_ELSE", 0.99)]).label is NORMAL


TOML = """
[grade.adult]
min_score = 0.8

[grade.suggestive]
labels = ["BUTTOCKS_COVERED", "BELLY_EXPOSED"]
"""


def test_override_from_toml_keeps_unstated_keys() -> None:
    rules = GradeRules.from_dict(tomllib.loads(TOML)["grade"])
    defaults = GradeRules()
    assert rules.adult == GradeRule(labels=defaults.adult.labels, min_score=0.8)
    assert rules.suggestive.labels == {DetectorLabel.BUTTOCKS_COVERED, DetectorLabel.BELLY_EXPOSED}
    assert rules.suggestive.min_score == defaults.suggestive.min_score
    assert rules.obscene == defaults.obscene
    # The changes take effect.
    assert rules.grade([region("FEMALE_BREAST_EXPOSED", 0.7)]).label is NORMAL
    assert rules.grade([region("BELLY_EXPOSED", 0.9)]).label is SUGGESTIVE
    assert rules.grade([region("FEMALE_BREAST_COVERED", 0.9)]).label is NORMAL


def test_a_label_may_set_different_grades_at_different_scores() -> None:
    rules = GradeRules.from_dict(
        {"suggestive": {"labels": ["FEMALE_BREAST_EXPOSED"], "min_score": 0.3}}
    )
    assert rules.grade([region("FEMALE_BREAST_EXPOSED", 0.35)]).label is SUGGESTIVE
    assert rules.grade([region("FEMALE_BREAST_EXPOSED", 0.6)]).label is ADULT


def test_an_empty_label_list_switches_a_grade_off() -> None:
    rules = GradeRules.from_dict({"obscene": {"labels": []}})
    assert rules.grade([region("ANUS_EXPOSED", 0.99)]).label is NORMAL


def test_empty_table_is_the_defaults_and_the_bundled_rules_load() -> None:
    assert GradeRules.from_dict({}) == GradeRules()
    bundled = GradeRules.from_dict(load_rules().grade)
    assert bundled.grade([region("MALE_GENITALIA_EXPOSED", 0.9)]).label is OBSCENE


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"adult": {"labels": ["FEMALE_BREAST_EXPOSED", "NIPPLE"]}}, "'NIPPLE' is not a detector"),
        ({"adult": {"min_score": 1.5}}, "adult.min_score"),
        ({"adult": {"min_score": "high"}}, "adult.min_score"),
        ({"adult": {"threshold": 0.5}}, "adult.threshold: unknown key"),
        ({"explicit": {"labels": ["ANUS_EXPOSED"], "min_score": 0.5}}, "explicit: unknown grade"),
        ({"normal": {"labels": ["FACE_MALE"], "min_score": 0.5}}, "normal"),
        ({"adult": 0.5}, "adult"),
        ({"adult": {"labels": "ANUS_EXPOSED"}}, "adult.labels: must be a list"),
    ],
)
def test_bad_configs_are_config_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        GradeRules.from_dict(table)
    assert info.value.code == "config_invalid"


def test_rules_are_frozen() -> None:
    rules = GradeRules()
    with pytest.raises(ValueError, match="frozen"):
        rules.adult = rules.obscene  # type: ignore[misc]


# --- real detections on benign images ---------------------------------------------


@pytest.mark.parametrize("path", [*NATURAL_PHOTOS, *conformance_photos()[:6]], ids=lambda p: p.name)
def test_benign_photos_stay_normal(
    path: Any, detector: GradeDetector, read: Callable[[bytes], Picture]
) -> None:
    grade = GradeRules().grade(detector.detect([read(path.read_bytes())])[0])
    assert grade.label is NORMAL
    assert grade.score == 1.0  # not even a near miss


def test_a_model_false_positive_travels_through_the_table(
    detector: GradeDetector, read: Callable[[bytes], Picture]
) -> None:
    """The model reads a colour wheel as BUTTOCKS_EXPOSED: the real nudity path, no nudity.

    This is why graded content goes to review rather than straight to removal,
    and how a platform can tune a threshold against its own false positives.
    """
    regions = detector.detect([read(COLOUR_WHEEL.read_bytes())])[0]
    assert [r.label for r in regions] == ["BUTTOCKS_EXPOSED"]
    # Alone in the picture, so the second stage checked it, and found no nudity.
    (wheel,) = regions
    assert wheel.context_score is not None and wheel.context_score < 0.05
    assert GradeRules().grade(regions).label is NORMAL
    first_stage_only = GradeRules.from_dict({"context": {"min_score": 0.0}})
    assert first_stage_only.grade(regions).label is ADULT
    stricter = GradeRules.from_dict(
        {"adult": {"min_score": wheel.score + 0.01}, "context": {"min_score": 0.0}}
    )
    assert stricter.grade(regions).label is NORMAL

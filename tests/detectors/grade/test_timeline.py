"""Grade over time: the sustain rule, segments and scores, on synthetic per-frame grades.

No model runs here: each sampled frame's grade is built from synthetic regions
through the real grade table (``GradeRules``), as the video pipeline does.
"""

from __future__ import annotations

import itertools

import pytest

from jikimi.detectors.grade import GradeRules
from jikimi.detectors.grade.timeline import FrameGrade, Sustain, grade_video, segments
from jikimi.domain import GradeLabel, Region
from jikimi.errors import ConfigError, InvalidInput

N, S, A, O = (  # noqa: E741 (the grades' initials, as in the timeline strings)
    GradeLabel.NORMAL,
    GradeLabel.SUGGESTIVE,
    GradeLabel.ADULT,
    GradeLabel.OBSCENE,
)

_LABEL_OF = {
    S: "FEMALE_BREAST_COVERED",
    A: "FEMALE_BREAST_EXPOSED",
    O: "FEMALE_GENITALIA_EXPOSED",
}
RULES = GradeRules()


def frame(t_s: float, label: GradeLabel, score: float = 0.9) -> FrameGrade:
    """A sampled frame graded ``label`` by one synthetic region of ``score`` (plus a face)."""
    regions = [Region(label="FACE_FEMALE", score=0.8, box=(1, 2, 3, 4), t_s=t_s)]
    if label is not N:
        regions.append(Region(label=_LABEL_OF[label], score=score, box=(5, 6, 7, 8), t_s=t_s))
    graded = FrameGrade(t_s=t_s, grade=RULES.grade(regions))
    assert graded.label is label
    return graded


def timeline(labels: str, every_s: float = 1.0) -> list[FrameGrade]:
    """Frames one ``every_s`` apart from a string such as ``"NNAANN"``."""
    return [frame(i * every_s, GradeLabel(_NAMES[c])) for i, c in enumerate(labels)]


_NAMES = {"N": "normal", "S": "suggestive", "A": "adult", "O": "obscene"}


def label(labels: str, sustain: Sustain | None = None) -> GradeLabel:
    frames = timeline(labels)
    return grade_video(frames, float(len(frames)), sustain or Sustain()).label


# --- the label: worst sustained grade ------------------------------------------------


def test_a_single_flagged_frame_in_a_long_video_is_a_blip() -> None:
    frames = timeline("N" * 300 + "O" + "N" * 299)  # ten minutes, one obscene frame
    grade = grade_video(frames, 600.0, Sustain())
    assert grade.label is N
    # ... but it is reported where it was seen
    assert grade.segments is not None
    assert [(s.start_s, s.end_s, s.label) for s in grade.segments] == [
        (0.0, 300.0, N),
        (300.0, 301.0, O),
        (301.0, 600.0, N),
    ]
    # and it lowers the confidence that the video is clean
    assert grade.score == pytest.approx(1 - 0.9)


def test_two_consecutive_frames_are_sustained() -> None:
    assert label("NNNNOONNNN") is O  # a 2-second obscene scene


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ("NNONONNNNN", O),  # one missed detection between two hits: still one scene
        ("NNONNONNNN", N),  # two hits three frames apart: two blips
        ("NNAOANNNNN", A),  # adult and obscene flicker: at least adult throughout
        ("NNOANNNNNN", A),  # obscene once, adult or worse twice
        ("NNSSNNOANN", A),  # suggestive scene, then an adult-or-worse scene
        ("NNNNNNNNNN", N),
        ("SSSSSSSSSO", S),  # the last frame alone does not make it obscene
        ("NNNNNNNNOO", O),  # a scene at the very end of the video counts
        ("OONNNNNNNN", O),  # and at the very start
    ],
)
def test_worst_sustained_grade(labels: str, expected: GradeLabel) -> None:
    assert label(labels) is expected


def test_one_frame_is_enough_when_the_rule_says_so() -> None:
    assert label("NNNNONNNNN", Sustain(frames=1, window=1)) is O


def test_stricter_rule_needs_longer_scenes() -> None:
    strict = Sustain(frames=3, window=3)
    assert label("NNOONNNNNN", strict) is N
    assert label("NNOOONNNNN", strict) is O


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ("O", O),  # a one-frame clip is its frame
        ("NO", O),  # in a 2-frame clip, one frame is half of it
        ("NON", O),
        ("NONN", N),  # four frames: corroboration is possible, so required
        ("NOON", O),
    ],
)
def test_short_clips_cannot_corroborate(labels: str, expected: GradeLabel) -> None:
    assert label(labels) is expected


def test_required_frames_by_clip_length() -> None:
    sustain = Sustain(frames=3, window=4)
    assert [sustain.required(n) for n in range(1, 8)] == [1, 1, 1, 2, 2, 3, 3]


def test_invalid_rules_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        Sustain(frames=0)
    with pytest.raises(ConfigError, match="video_sustain_window"):
        Sustain(frames=3, window=2)


# --- score and regions ----------------------------------------------------------------


def test_score_is_the_best_frame_of_the_label_in_sustained_scenes() -> None:
    frames = [
        frame(0.0, N),
        frame(1.0, A, 0.6),
        frame(2.0, A, 0.7),
        frame(3.0, N),
        frame(4.0, N),
        frame(5.0, A, 0.99),  # a blip: not part of a sustained scene
        frame(6.0, N),
        frame(7.0, N),
    ]
    grade = grade_video(frames, 8.0, Sustain())
    assert grade.label is A
    assert grade.score == pytest.approx(0.7)


def test_every_region_is_kept_with_its_time() -> None:
    frames = timeline("NAAN")
    grade = grade_video(frames, 4.0, Sustain())
    assert len(grade.regions) == 4 + 2  # a face per frame, an adult region on two
    assert [r.t_s for r in grade.regions] == [0.0, 1.0, 1.0, 2.0, 2.0, 3.0]


def test_a_clean_video_scores_its_least_confident_frame() -> None:
    near_miss = Region(label="FEMALE_BREAST_COVERED", score=0.3, box=(0, 0, 1, 1), t_s=1.0)
    frames = [frame(0.0, N), FrameGrade(1.0, RULES.grade([near_miss])), frame(2.0, N)]
    grade = grade_video(frames, 3.0, Sustain())
    assert (grade.label, grade.score) == (N, pytest.approx(0.7))


# --- segments -----------------------------------------------------------------------


def test_segments_merge_adjacent_frames_and_cover_the_video() -> None:
    frames = timeline("NNSSSNAAON", every_s=0.5)
    found = segments(frames, 5.2)
    assert [(s.start_s, s.end_s, s.label) for s in found] == [
        (0.0, 1.0, N),
        (1.0, 2.5, S),
        (2.5, 3.0, N),
        (3.0, 4.0, A),
        (4.0, 4.5, O),
        (4.5, 5.2, N),  # the last frame stands for the rest of the video
    ]
    # no gaps, no overlaps
    assert all(a.end_s == b.start_s for a, b in itertools.pairwise(found))


def test_segments_with_uneven_sampling_start_at_the_frames() -> None:
    # a scene cut adds a frame between two once-a-second samples
    frames = [frame(0.0, N), frame(1.0, N), frame(1.4, A), frame(2.0, A), frame(3.0, N)]
    grade = grade_video(frames, 3.5, Sustain())
    assert grade.label is A
    assert grade.segments is not None
    assert [(s.start_s, s.end_s, s.label) for s in grade.segments] == [
        (0.0, 1.4, N),
        (1.4, 3.0, A),
        (3.0, 3.5, N),
    ]


def test_last_frame_at_the_very_end() -> None:
    # a declared duration shorter than the last frame's time never makes a negative segment
    frames = timeline("NA")
    found = segments(frames, 0.5)
    assert [(s.start_s, s.end_s, s.label) for s in found] == [(0.0, 1.0, N), (1.0, 1.0, A)]


def test_one_frame_video_is_one_segment() -> None:
    assert [(s.start_s, s.end_s) for s in segments(timeline("N"), 0.4)] == [(0.0, 0.4)]


def test_no_frames_or_unordered_frames_are_refused() -> None:
    with pytest.raises(InvalidInput, match="at least one"):
        grade_video([], 1.0, Sustain())
    with pytest.raises(InvalidInput, match="time order"):
        grade_video([frame(1.0, N), frame(0.0, N)], 2.0, Sustain())

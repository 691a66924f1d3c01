"""Grade over time: per-frame grades of a video → the video's grade and its segments.

A video is graded by grading sampled frames as still images (one a second, plus the
first frame of each new shot, see :mod:`jikimi.pipeline.video`). This module turns
those per-frame grades into one :class:`~jikimi.domain.Grade`; it is pure (no model,
no pixels), so a platform can re-aggregate stored frame grades under other rules.

The label: the worst *sustained* grade
    A nudity detector run on hundreds of frames will, now and then, fire on one frame
    of a wall, a hand or a blurred motion: a single flagged frame in a ten-minute
    video is far more likely a false positive than content. A real scene lasts, so
    it is seen on several sampled frames. The rule, as a moderator would apply it::

        grade G is sustained when at least N of any W consecutive sampled
        frames are graded G or worse          (defaults: N = 2, W = 3)

    and the video's label is the most severe sustained grade (``normal`` if none).
    "G or worse" means an obscene frame also counts towards *adult*: a scene that
    flickers between adult and obscene (detectors flicker as poses change) is at
    least adult throughout. "N of W" rather than "N in a row" forgives a missed
    detection between two hits for the same reason.

    With the default sampling (one frame a second plus the first frame of every new
    shot), a shot of 2 seconds or more always yields at least two sampled frames, so
    **a 2-second obscene scene is sustained**; one flagged frame is not. ``N = 1``
    turns the rule off (any frame sets the label), for platforms that prefer
    reviewing every blip.

    Short clips cannot corroborate: in a 2-second clip one sampled frame is half of
    it. So a clip with fewer than ``2 * N`` sampled frames needs only
    ``max(1, frames // 2)`` of them (a 1- to 3-frame clip: one frame).

Segments
    Every sampled frame stands for the stretch from its time to the next sampled
    frame's (the last one to the end of the video); adjacent frames with the same
    grade merge. Segments cover ``[0, duration]`` without gaps and report every
    frame's own grade, blips included: the label is the rule's verdict, the
    segments are what was seen, and where (a reviewer jumps to them).

The score
    For a label above normal: the highest score among the frames of that exact grade
    inside sustained windows (the confidence of the region that set it, as for an
    image). For normal: the lowest confidence that nothing was there, i.e. the
    minimum over frames of their normal score, or ``1 - score`` for a frame whose
    grade was not sustained (a blip lowers the confidence that the video is clean).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from jikimi.domain import Grade, GradeLabel, Region, Segment
from jikimi.errors import ConfigError, InvalidInput

_SEVERE_FIRST = (GradeLabel.OBSCENE, GradeLabel.ADULT, GradeLabel.SUGGESTIVE)


@dataclass(frozen=True, slots=True)
class Sustain:
    """When a grade seen on sampled frames sets the video's label (see module docstring).

    ``frames``: how many sampled frames must reach the grade (N); ``window``: within
    how many consecutive sampled frames (W >= N).
    """

    frames: int = 2
    window: int = 3

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ConfigError(f"video_sustain_frames must be at least 1, not {self.frames}")
        if self.window < self.frames:
            raise ConfigError(
                f"video_sustain_window ({self.window}) must be at least "
                f"video_sustain_frames ({self.frames})"
            )

    def required(self, sampled: int) -> int:
        """Frames needed in a video of ``sampled`` frames (fewer in clips too short)."""
        if sampled >= 2 * self.frames:
            return self.frames
        return min(self.frames, max(1, sampled // 2))


@dataclass(frozen=True, slots=True)
class FrameGrade:
    """The grade of one sampled frame at time ``t_s`` (its regions carry ``t_s`` too)."""

    t_s: float
    grade: Grade

    @property
    def label(self) -> GradeLabel:
        return self.grade.label


def grade_video(frames: Sequence[FrameGrade], duration_s: float, sustain: Sustain) -> Grade:
    """The video's grade: label by the sustain rule, every region, and the segments.

    ``frames`` are in time order (as decoded); ``duration_s`` is the video's playing
    time. Raises :class:`~jikimi.errors.InvalidInput` for no frames or frames out of
    order (a caller's bug, never the video's).
    """
    _check_order(frames)
    hits = _sustained_hits(frames, sustain)
    label = next((g for g in _SEVERE_FIRST if hits[g]), GradeLabel.NORMAL)
    regions: tuple[Region, ...] = tuple(r for f in frames for r in f.grade.regions)
    return Grade(
        label=label,
        score=_score(frames, label, hits),
        regions=regions,
        segments=segments(frames, duration_s),
    )


def segments(frames: Sequence[FrameGrade], duration_s: float) -> tuple[Segment, ...]:
    """Adjacent frames of the same grade merged; from 0 to the end, without gaps."""
    _check_order(frames)
    end = max(duration_s, frames[-1].t_s)
    out: list[Segment] = []
    start, label = 0.0, frames[0].label
    for frame in frames[1:]:
        if frame.label is not label:
            out.append(Segment(start_s=start, end_s=frame.t_s, label=label))
            start, label = frame.t_s, frame.label
    out.append(Segment(start_s=start, end_s=end, label=label))
    return tuple(out)


def _check_order(frames: Sequence[FrameGrade]) -> None:
    if not frames:
        raise InvalidInput("A video's grade needs at least one graded frame.")
    if any(b.t_s < a.t_s for a, b in itertools.pairwise(frames)):
        raise InvalidInput("Graded frames must be in time order.")


def _sustained_hits(
    frames: Sequence[FrameGrade], sustain: Sustain
) -> dict[GradeLabel, frozenset[int]]:
    """Per grade above normal, the indexes of frames reaching it inside a sustained window."""
    need = sustain.required(len(frames))
    width = min(sustain.window, len(frames))
    out: dict[GradeLabel, frozenset[int]] = {}
    for grade in _SEVERE_FIRST:
        reached = [f.label.severity >= grade.severity for f in frames]
        found: set[int] = set()
        for start in range(len(frames) - width + 1):
            window = [i for i in range(start, start + width) if reached[i]]
            if len(window) >= need:
                found.update(window)
        out[grade] = frozenset(found)
    return out


def _score(
    frames: Sequence[FrameGrade], label: GradeLabel, hits: dict[GradeLabel, frozenset[int]]
) -> float:
    if label is not GradeLabel.NORMAL:
        exact = [frames[i].grade.score for i in hits[label] if frames[i].label is label]
        return max(exact or [frames[i].grade.score for i in hits[label]])
    return min(
        f.grade.score if f.label is GradeLabel.NORMAL else 1.0 - f.grade.score for f in frames
    )

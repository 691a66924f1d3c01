"""Detector regions → one of the four grades, by a table a platform can edit.

The detector says *what* it sees (``FEMALE_BREAST_EXPOSED`` at 0.81); platforms
act on a *grade* (normal / suggestive / adult / obscene, the scale Korean
platforms already use). The step between the two is policy, not model code, so it
lives in the ``[grade]`` table of the rules file (see ``data/rules.toml`` and
docs/grading.md)::

    [grade.adult]
    labels = ["FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED"]
    min_score = 0.45

Each grade above ``normal`` lists detector labels and a minimum score; the most
severe grade with a region that qualifies wins. Keys left out keep their
defaults, so a file may change one threshold without restating the labels.

``[grade.context]`` is the second stage's row (see ``context.py``): a region
that the detector had to check in context (an exposed body part with no face
or other body part in the picture) counts only when its ``context_score``
reaches ``min_score``; ``min_score = 0`` turns the second stage off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jikimi.detectors.grade.labels import DetectorLabel
from jikimi.domain import Grade, GradeLabel, Region
from jikimi.errors import ConfigError

_SEVERE_FIRST = (GradeLabel.OBSCENE, GradeLabel.ADULT, GradeLabel.SUGGESTIVE)


class GradeRule(BaseModel):
    """One row of the table: which labels set this grade, and from what score."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    labels: frozenset[DetectorLabel] = Field(description="Detector labels that set this grade.")
    min_score: float = Field(
        ge=0.0, le=1.0, description="A region counts when its score is >= this value."
    )

    def hits(self, regions: Sequence[Region]) -> list[Region]:
        """The regions that set this grade."""
        return [r for r in regions if r.label in self.labels and r.score >= self.min_score]


_L = DetectorLabel

DEFAULT_OBSCENE = GradeRule(
    labels=frozenset({_L.FEMALE_GENITALIA_EXPOSED, _L.MALE_GENITALIA_EXPOSED, _L.ANUS_EXPOSED}),
    min_score=0.40,
)
DEFAULT_ADULT = GradeRule(
    labels=frozenset({_L.FEMALE_BREAST_EXPOSED, _L.BUTTOCKS_EXPOSED}),
    min_score=0.45,
)
DEFAULT_SUGGESTIVE = GradeRule(
    labels=frozenset(
        {
            _L.FEMALE_GENITALIA_COVERED,
            _L.FEMALE_BREAST_COVERED,
            _L.BUTTOCKS_COVERED,
            _L.ANUS_COVERED,
        }
    ),
    min_score=0.50,
)


class ContextRule(BaseModel):
    """The second stage's row: from what context score a checked region counts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_score: float = Field(
        ge=0.0,
        le=1.0,
        description="A region with a context score counts when the score is >= this value.",
    )

    def counts(self, region: Region) -> bool:
        """Unchecked regions always count; checked ones from ``min_score``."""
        return region.context_score is None or region.context_score >= self.min_score


DEFAULT_CONTEXT = ContextRule(min_score=0.10)
"""Every benign photo measured scored <= 0.044 (bench.benign; docs/grading.md)."""


class GradeRules(BaseModel):
    """The whole table. Build from the rules file with :meth:`from_dict`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suggestive: GradeRule = DEFAULT_SUGGESTIVE
    adult: GradeRule = DEFAULT_ADULT
    obscene: GradeRule = DEFAULT_OBSCENE
    context: ContextRule = DEFAULT_CONTEXT

    @classmethod
    def from_dict(cls, table: Mapping[str, Any]) -> GradeRules:
        """Rules from a plain dict such as the ``[grade]`` TOML table.

        Each grade's keys override the defaults one by one. Unknown grades,
        unknown labels, or scores outside [0, 1] raise :class:`ConfigError`.
        """
        if GradeLabel.NORMAL.value in table:
            raise ConfigError(
                "[grade] has no 'normal' row: normal is what remains when no other grade matches"
            )
        defaults = cls()
        merged: dict[str, Any] = {}
        for key, row in table.items():
            if not isinstance(row, Mapping):
                raise ConfigError(f"[grade.{key}] must be a table with labels and min_score")
            base = getattr(defaults, key, None)
            start = base.model_dump() if isinstance(base, GradeRule | ContextRule) else {}
            merged[key] = {**start, **row}
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(f"invalid [grade] table: {_describe(exc)}") from exc

    def rule(self, grade: GradeLabel) -> GradeRule | None:
        """The row for a grade (``None`` for normal, which has no row)."""
        if grade is GradeLabel.NORMAL:
            return None
        row: GradeRule = getattr(self, grade.value)
        return row

    def grade(self, regions: Sequence[Region]) -> Grade:
        """The most severe grade any counting region qualifies for; every region is kept.

        A region counts unless the second stage checked it and its context score
        is below ``context.min_score``; it is still listed in ``regions``.
        ``score`` is the highest score among the regions that set the grade. For
        ``normal`` it is ``1 - `` the highest score of any counting region whose
        label is in the table (a near miss below its threshold), or 1.0 when there
        is none.
        """
        kept = tuple(regions)
        counting = [r for r in kept if self.context.counts(r)]
        for label in _SEVERE_FIRST:
            row = self.rule(label)
            hits = row.hits(counting) if row is not None else []
            if hits:
                return Grade(label=label, score=max(r.score for r in hits), regions=kept)
        graded = self.suggestive.labels | self.adult.labels | self.obscene.labels
        near = [r.score for r in counting if r.label in graded]
        return Grade(label=GradeLabel.NORMAL, score=1.0 - max(near, default=0.0), regions=kept)


def _describe(exc: ValidationError) -> str:
    """One clause per problem, naming the key and what is allowed there."""
    return "; ".join(
        _clause(err["type"], err["loc"], err["input"], err["msg"]) for err in exc.errors()
    )


def _clause(kind: str, loc: tuple[int | str, ...], value: Any, msg: str) -> str:
    where = ".".join(str(p) for p in loc)
    if kind == "enum":
        return f"{where}: {value!r} is not a detector label (labels: {', '.join(DetectorLabel)})"
    if kind == "frozen_set_type":
        return f"{where}: must be a list of detector labels"
    if kind == "extra_forbidden" and len(loc) == 1:
        return f"{where}: unknown grade (grades: suggestive, adult, obscene; and context)"
    if kind == "extra_forbidden" and loc[0] == "context":
        return f"{where}: unknown key (keys: min_score)"
    if kind == "extra_forbidden":
        return f"{where}: unknown key (keys: labels, min_score)"
    return f"{where}: {msg}"

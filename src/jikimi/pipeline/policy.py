"""Policy: turn evidence (grade, synthetic evidence, bank matches) into a Decision.

Rules live in a TOML file (the bundled ``data/rules.toml`` unless
``JIKIMI_RULES_PATH`` names another) so that a platform can tune what happens
without touching code. Each rule is a conjunction of conditions; every rule whose
conditions all hold contributes its action, priority and a reason sentence that
names the evidence. The decision takes the most severe action and the highest
priority among them, and lists every reason, so a reviewer sees *why*.

A ``person_match`` condition holds when a face in the item matches an enrolled
person (``Verdict.faces``) with at least the rule's similarity; combined with a
grade or synthetic evidence it says "possible intimate image (or fake) of a
registered person". Such matches go to review (hold); the bundled rules never
remove on a face match alone.

Suppression banks hold known-safe content: a match there silences rules that are
driven only by classifiers (grade, synthetic evidence), which is how a platform
kills a recurring false positive without weakening its thresholds. Rules on bank
matches are never suppressed.

::

    evidence ──► [rule 1 holds?] ──► (action, priority, reason)
             ──► [rule 2 holds?] ──► ...            ──► max ──► Decision
             (suppression match: skip classifier-only rules)
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jikimi.cases.types import SourceRisk
from jikimi.domain import (
    Action,
    BankKind,
    Decision,
    Face,
    Grade,
    GradeLabel,
    Match,
    Priority,
    Strength,
    Synthetic,
)
from jikimi.errors import ConfigError

_UNGRADED_PREFIXES = ("FACE_", "FEET_", "ARMPITS_", "BELLY_", "MALE_BREAST_")
_STRENGTH_ORDER = [Strength.WEAK, Strength.MODERATE, Strength.STRONG]


class Rule(BaseModel):
    """One rule: conditions (all must hold; at least one) and what to do."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    action: Action
    priority: Priority = Priority.NORMAL
    reason: str = Field(
        description="Sentence for reviewers; {grade}, {evidence}, {banks}, {persons}, "
        "{source} expand."
    )
    grade_at_least: GradeLabel | None = None
    synthetic_at_least: Strength | None = None
    bank_kind: BankKind | None = None
    truncated: bool | None = Field(
        default=None,
        description="Holds when the file's truncation (Media.truncated) is this value.",
    )
    person_match: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Holds when a face matches an enrolled person with at least this "
        "cosine similarity.",
    )
    source_confirmed_at_least: int | None = Field(
        default=None,
        ge=1,
        description="Holds when the item's source has at least this many confirmed items.",
    )
    source_risk_at_least: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Holds when the item's source has at least this risk score.",
    )

    @property
    def classifier_only(self) -> bool:
        """True when the rule does not rest on a bank match (suppressible): model
        outputs, or the file's own state (truncation)."""
        return self.bank_kind is None

    def model_post_init(self, __context: Any) -> None:
        conditions = (
            self.grade_at_least,
            self.synthetic_at_least,
            self.bank_kind,
            self.truncated,
            self.person_match,
            self.source_confirmed_at_least,
            self.source_risk_at_least,
        )
        if all(c is None for c in conditions):
            raise ValueError(f"rule {self.name!r} has no condition")


class RulesFile(BaseModel):
    """The whole rules file: the grade table (for the grade mapper) and the rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grade: dict[str, Any] = Field(default_factory=dict)
    rule: tuple[Rule, ...] = ()


def load_rules(path: Path | None = None) -> RulesFile:
    """Read and validate a rules file; errors name the file and the bad field."""
    if path is None:
        text = resources.files("jikimi.data").joinpath("rules.toml").read_text("utf-8")
        where = "bundled rules.toml"
    else:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read rules file {path}: {exc.strerror}") from exc
        where = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"rules file {where} is not valid TOML: {exc}") from exc
    try:
        return RulesFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"rules file {where}: {loc}: {first['msg']}") from exc


class Policy:
    """Applies a list of rules. Pure: no I/O after construction."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)

    @classmethod
    def from_file(cls, rules_file: RulesFile) -> Policy:
        return cls(rules_file.rule)

    def decide(
        self,
        grade: Grade | None,
        synthetic: Synthetic | None,
        matches: Sequence[Match],
        bank_kinds: Mapping[str, BankKind] | None = None,
        faces: Sequence[Face] = (),
        *,
        truncated: bool = False,
        source: SourceRisk | None = None,
    ) -> Decision:
        """The Decision for one item's evidence (``truncated``: its Media.truncated;
        ``source``: the standing of the account that posted it, when known).

        A match's bank kind is the one it carries (``Match.bank_kind``); ``bank_kinds``
        (by bank label) is for matches that carry none, which count as ``watch``.
        """
        kinds_hit: dict[BankKind, list[str]] = {}
        for m in matches:
            kind = m.bank_kind or (bank_kinds or {}).get(m.bank, BankKind.WATCH)
            kinds_hit.setdefault(kind, [])
            if m.bank not in kinds_hit[kind]:
                kinds_hit[kind].append(m.bank)
        suppressed = BankKind.SUPPRESSION in kinds_hit
        best_strength = _best_strength(synthetic)

        action, priority, reasons = Action.ALLOW, Priority.LOW, []
        fired: list[str] = []
        silenced: list[str] = []
        for rule in self.rules:
            if not _holds(rule, grade, best_strength, kinds_hit, faces, truncated):
                continue
            if not _source_holds(rule, source):
                continue
            if suppressed and rule.classifier_only:
                silenced.append(rule.name)
                continue
            action = max(action, rule.action, key=lambda a: a.severity)
            priority = max(priority, rule.priority, key=lambda p: p.severity)
            fired.append(rule.name)
            reasons.append(_reason(rule, grade, synthetic, kinds_hit, faces, _source_text(source)))
        if silenced:
            banks = ", ".join(kinds_hit[BankKind.SUPPRESSION])
            reasons.append(
                f"Known-safe match in suppression bank {banks} overrides "
                f"classifier rules: {', '.join(silenced)}."
            )
        if not reasons:
            reasons.append("No rule matched: no matches, grade and provenance below thresholds.")
        return Decision(
            action=action, priority=priority, reasons=tuple(reasons), rules=tuple(fired)
        )


def _best_strength(synthetic: Synthetic | None) -> Strength | None:
    """The strongest AI evidence (``algorithmic_media`` is reported but is not AI)."""
    strengths = [e.strength for e in (synthetic.evidence if synthetic else ()) if e.kind.is_ai]
    return max(strengths, key=_STRENGTH_ORDER.index) if strengths else None


def _holds(
    rule: Rule,
    grade: Grade | None,
    strength: Strength | None,
    kinds_hit: Mapping[BankKind, list[str]],
    faces: Sequence[Face] = (),
    truncated: bool = False,
) -> bool:
    if rule.truncated is not None and rule.truncated != truncated:
        return False
    if rule.person_match is not None and not _persons(faces, rule.person_match):
        return False
    if rule.grade_at_least is not None and (
        grade is None or grade.label.severity < rule.grade_at_least.severity
    ):
        return False
    if rule.synthetic_at_least is not None and (
        strength is None
        or _STRENGTH_ORDER.index(strength) < _STRENGTH_ORDER.index(rule.synthetic_at_least)
    ):
        return False
    return rule.bank_kind is None or rule.bank_kind in kinds_hit


def _source_holds(rule: Rule, source: SourceRisk | None) -> bool:
    if rule.source_confirmed_at_least is not None and (
        source is None or source.confirmed < rule.source_confirmed_at_least
    ):
        return False
    return rule.source_risk_at_least is None or (
        source is not None and source.score >= rule.source_risk_at_least
    )


def _source_text(source: SourceRisk | None) -> str:
    if source is None:
        return "an unknown source"
    return f"{source.source.handle} ({source.confirmed} confirmed item(s), risk {source.score:.2f})"


def _persons(faces: Sequence[Face], at_least: float) -> list[Face]:
    """The best face of each enrolled person matched at ``at_least`` or more, best first."""
    best: dict[str, Face] = {}
    for f in faces:
        if f.person is None or f.similarity is None or f.similarity < at_least:
            continue
        seen = best.get(f.person)
        if seen is None or (seen.similarity or 0.0) < f.similarity:
            best[f.person] = f
    return sorted(best.values(), key=lambda f: -(f.similarity or 0.0))


def _reason(
    rule: Rule,
    grade: Grade | None,
    synthetic: Synthetic | None,
    kinds_hit: Mapping[BankKind, list[str]],
    faces: Sequence[Face] = (),
    source: str = "",
) -> str:
    grade_text = "unknown"
    if grade is not None:
        grade_text = grade.label.value
        # name the body-part region that most likely set the grade, not a face
        graded = [r for r in grade.regions if not r.label.startswith(_UNGRADED_PREFIXES)]
        if graded and grade.label is not GradeLabel.NORMAL:
            top = max(graded, key=lambda r: r.score)
            grade_text += f" ({top.label} {top.score:.2f}"
            grade_text += f" at {top.t_s:.1f} s)" if top.t_s is not None else ")"
    ai = [e for e in (synthetic.evidence if synthetic else ()) if e.kind.is_ai]
    evidence = "; ".join(e.detail for e in ai) or "none"
    banks = ", ".join(kinds_hit.get(rule.bank_kind, [])) if rule.bank_kind else ""
    persons = ""
    if rule.person_match is not None:
        persons = ", ".join(_person_text(f) for f in _persons(faces, rule.person_match))
    try:
        return rule.reason.format(
            grade=grade_text, evidence=evidence, banks=banks, persons=persons, source=source
        )
    except (KeyError, IndexError, ValueError):
        return rule.reason


def _person_text(face: Face) -> str:
    text = f"{face.person} (similarity {face.similarity:.2f}"
    return text + (f" at {face.t_s:.1f} s)" if face.t_s is not None else ")")

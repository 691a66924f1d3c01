"""Human output of the CLI: a table of Verdicts and an end-of-run summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table
from rich.text import Text

from jikimi.domain import Action, SyntheticLabel, Verdict

_ACTION_STYLE = {
    Action.ALLOW: "green",
    Action.LABEL: "yellow",
    Action.HOLD: "magenta",
    Action.REMOVE: "bold red",
}
_GRADE_STYLE = {
    "normal": "green",
    "suggestive": "yellow",
    "adult": "magenta",
    "obscene": "bold red",
}


def verdict_table(verdicts: Sequence[Verdict]) -> Table:
    table = Table(show_lines=False, header_style="bold", expand=False)
    table.add_column("file", overflow="fold", ratio=2)
    for col in ("media", "grade", "synthetic", "matches", "decision"):
        table.add_column(col, overflow="fold", ratio=1)
    for v in verdicts:
        path = _short(str(v.source.get("path", v.id)))
        if v.error is not None:
            table.add_row(
                path, "", "", "", "", Text(f"error {v.error.code}: {v.error.message}", style="red")
            )
            continue
        assert v.media and v.grade and v.synthetic and v.decision is not None
        media = f"{v.media.format} {v.media.width}x{v.media.height}"
        if v.media.frames > 1:
            media += f" {v.media.frames}f"
        grade = Text(
            f"{v.grade.label.value} {v.grade.score:.2f}", style=_GRADE_STYLE[v.grade.label.value]
        )
        synth = (
            ", ".join(sorted({f"{e.kind.value}({e.strength.value})" for e in v.synthetic.evidence}))
            or "-"
        )
        matches = ", ".join(f"{m.bank}:{m.distance}" for m in v.matches or ()) or "-"
        action = v.decision.action
        table.add_row(
            path,
            media,
            grade,
            synth,
            matches,
            Text(f"{action.value} ({v.decision.priority.value})", style=_ACTION_STYLE[action]),
        )
    return table


def _short(path: str) -> str:
    """Paths under the working directory are shown relative to it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


@dataclass
class Summary:
    """Counts for the end-of-run line: grades, actions, evidence, errors."""

    skipped: int = 0
    seconds: float = 0.0
    total: int = 0
    grades: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    with_evidence: int = 0
    matched: int = 0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def add(self, v: Verdict) -> None:
        self.total += 1
        if v.error is not None:
            self.errors[v.error.code] += 1
            return
        if v.grade is not None:
            self.grades[v.grade.label.value] += 1
        if v.decision is not None:
            self.actions[v.decision.action.value] += 1
        if v.synthetic is not None and v.synthetic.label is SyntheticLabel.EVIDENCE:
            self.with_evidence += 1
        if v.matches:
            self.matched += 1

    def render(self) -> Text:
        rate = self.total / self.seconds if self.seconds > 0 else 0.0
        parts = [f"{self.total} scanned in {self.seconds:.1f}s ({rate:.1f}/s)"]
        order = ("normal", "suggestive", "adult", "obscene")
        parts.append(
            "grades: "
            + (", ".join(f"{g} {self.grades[g]}" for g in order if self.grades[g]) or "none")
        )
        parts.append(f"AI evidence: {self.with_evidence}")
        parts.append(f"matched: {self.matched}")
        parts.append(
            "actions: " + (", ".join(f"{a} {n}" for a, n in sorted(self.actions.items())) or "none")
        )
        if self.errors:
            parts.append("errors: " + ", ".join(f"{c} {n}" for c, n in sorted(self.errors.items())))
        if self.skipped:
            parts.append(f"skipped (not media): {self.skipped}")
        return Text(" | ".join(parts), style="red" if self.errors else "")

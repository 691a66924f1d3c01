"""The scan pipeline: bytes → :class:`~jikimi.domain.Verdict`. Pure, no database.

Read :mod:`jikimi.pipeline.scanner` first (the :class:`Scanner` every door
calls), then :mod:`jikimi.pipeline.video` (videos and animations, frame by
frame) and :mod:`jikimi.pipeline.policy` (the rules that turn signals, grades,
matches and faces into a decision). This package imports nothing that reaches a
database or the network; the import contracts in pyproject.toml check it.
"""

from __future__ import annotations

from jikimi.pipeline.policy import Policy, RulesFile, load_rules
from jikimi.pipeline.scanner import (
    INTERNAL_ERROR,
    FaceMatcher,
    Item,
    Matcher,
    Scanner,
    ScanProgress,
    error_verdict,
    failed_verdict,
)
from jikimi.pipeline.video import VideoOptions, VideoScanner, is_animation

__all__ = [
    "INTERNAL_ERROR",
    "FaceMatcher",
    "Item",
    "Matcher",
    "Policy",
    "RulesFile",
    "ScanProgress",
    "Scanner",
    "VideoOptions",
    "VideoScanner",
    "error_verdict",
    "failed_verdict",
    "is_animation",
    "load_rules",
]

"""Nudity grading: a body-part detector and the table that turns its regions into a grade.

``GradeDetector`` runs NudeNet's ONNX model (bundled 320n, or a larger one of the
same format) and returns :class:`~jikimi.domain.Region` boxes in original-image
pixels; ``GradeRules`` maps those regions to normal / suggestive / adult /
obscene. They are separate so that a platform can re-grade stored regions with
new rules without running the model again. Between the two, a second stage
(``context.py``) gives each lone exposed region a context score from a
whole-image classifier, which the table's ``context`` row weighs. See
docs/grading.md.
"""

from jikimi.detectors.grade.labels import LABELS, DetectorLabel
from jikimi.detectors.grade.mapping import ContextRule, GradeRule, GradeRules
from jikimi.detectors.grade.model import GradeDetector

__all__ = ["LABELS", "ContextRule", "DetectorLabel", "GradeDetector", "GradeRule", "GradeRules"]

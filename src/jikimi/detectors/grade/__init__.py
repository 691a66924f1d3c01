"""Nudity grading: a body-part detector and the table that turns its regions into a grade.

``GradeDetector`` runs NudeNet's ONNX model (bundled 320n, or a larger one of the
same format) and returns :class:`~jikimi.model.Region` boxes in original-image
pixels; ``GradeRules`` maps those regions to normal / suggestive / adult /
obscene. They are separate so that a platform can re-grade stored regions with
new rules without running the model again. See docs/grading.md.
"""

from jikimi.detectors.grade.mapping import GradeRule, GradeRules
from jikimi.detectors.grade.model import LABELS, DetectorLabel, GradeDetector

__all__ = ["LABELS", "DetectorLabel", "GradeDetector", "GradeRule", "GradeRules"]

"""The nudity detector's labels, in the order of its class outputs.

Apart from the model so that the rules (:mod:`.mapping`) and the context stage
(:mod:`.context`) name labels without importing the detector, and the detector
imports the context stage without a cycle.
"""

from __future__ import annotations

from enum import StrEnum


class DetectorLabel(StrEnum):
    """NudeNet's labels, in the order of the model's class outputs."""

    FEMALE_GENITALIA_COVERED = "FEMALE_GENITALIA_COVERED"
    FACE_FEMALE = "FACE_FEMALE"
    BUTTOCKS_EXPOSED = "BUTTOCKS_EXPOSED"
    FEMALE_BREAST_EXPOSED = "FEMALE_BREAST_EXPOSED"
    FEMALE_GENITALIA_EXPOSED = "FEMALE_GENITALIA_EXPOSED"
    MALE_BREAST_EXPOSED = "MALE_BREAST_EXPOSED"
    ANUS_EXPOSED = "ANUS_EXPOSED"
    FEET_EXPOSED = "FEET_EXPOSED"
    BELLY_COVERED = "BELLY_COVERED"
    FEET_COVERED = "FEET_COVERED"
    ARMPITS_COVERED = "ARMPITS_COVERED"
    ARMPITS_EXPOSED = "ARMPITS_EXPOSED"
    FACE_MALE = "FACE_MALE"
    BELLY_EXPOSED = "BELLY_EXPOSED"
    MALE_GENITALIA_EXPOSED = "MALE_GENITALIA_EXPOSED"
    ANUS_COVERED = "ANUS_COVERED"
    FEMALE_BREAST_COVERED = "FEMALE_BREAST_COVERED"
    BUTTOCKS_COVERED = "BUTTOCKS_COVERED"


LABELS: tuple[DetectorLabel, ...] = tuple(DetectorLabel)
"""Class index → label (the model's output rows 4.. in this order)."""

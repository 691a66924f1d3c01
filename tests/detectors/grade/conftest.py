"""Fixtures for the grade tests: our detector, NudeNet's own, and a loader.

The reference for every detection test is ``nudenet.NudeDetector`` itself, run
on the same files in the same process. No test image shows nudity: the photos
are scikit-image's public-domain samples (a portrait, a camera operator, a cat,
a coffee cup, a rocket) and ThreatExchange's conformance photos (a bridge), and
the nudity grades are exercised with synthetic regions (see docs/grading.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jikimi.config import Settings
from jikimi.detectors.grade import GradeDetector
from jikimi.media import MediaLimits, Picture, load


@pytest.fixture(scope="session")
def detector() -> GradeDetector:
    return GradeDetector.from_settings(Settings())


@pytest.fixture(scope="session")
def peer() -> Any:
    """NudeNet's own detector (same weights), the reference implementation."""
    from nudenet import NudeDetector

    return NudeDetector()


@pytest.fixture(scope="session")
def read() -> Callable[[bytes], Picture]:
    """``read(data) -> Picture`` through the real media loader."""
    limits = MediaLimits.from_settings(Settings())
    return lambda data: load(data, limits)

"""Fixtures for the synthetic-media tests: benign photos, in-memory encoders, a loader.

Every test file is built in memory the way the real tools write it (PNG text
chunks, EXIF written big-endian like piexif, XMP packets), then read back through
:func:`jikimi.media.load`, so the tests cover the real metadata path. Photos are
scikit-image's public-domain samples and ThreatExchange's conformance photos.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import skimage.data
from numpy.typing import NDArray

from jikimi.config import Settings
from jikimi.detectors.synthetic import SyntheticDetector
from jikimi.media import MediaLimits, Picture, load

Array = NDArray[np.uint8]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def detector(settings: Settings) -> SyntheticDetector:
    return SyntheticDetector.from_settings(settings)


@pytest.fixture(scope="session")
def read(settings: Settings) -> Callable[[bytes], Picture]:
    """``read(data) -> Picture`` through the real media loader."""
    limits = MediaLimits.from_settings(settings)
    return lambda data: load(data, limits)


@pytest.fixture(scope="session")
def astronaut() -> Array:
    """512 x 512 RGB photo (NASA, public domain)."""
    return np.asarray(skimage.data.astronaut())


@pytest.fixture(scope="session")
def coffee() -> Array:
    """600 x 400 RGB photo (CC0)."""
    return np.asarray(skimage.data.coffee())


@pytest.fixture(scope="session")
def small() -> Array:
    """A 96 x 64 gradient: enough pixels for metadata tests, cheap to encode."""
    y, x = np.mgrid[0:64, 0:96]
    return np.dstack([x * 2, y * 3, (x + y)]).astype(np.uint8)

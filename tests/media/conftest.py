"""Fixtures for the media tests: limits, benign photos, and an in-memory encoder.

Test images are natural photos that ship with the project's test data (the
ThreatExchange bridge photo, scikit-image's cat and coffee cup) or synthetic
patterns; they are encoded in memory per test, so no fixture files are kept.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
import pytest
import skimage.data
from PIL import Image

from jikimi.config import Settings
from jikimi.media import MediaLimits

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"
MODES = CONFORMANCE / "pdq" / "modes"
BRIDGE = CONFORMANCE / "pdq" / "bridge-mods" / "aaa-orig.jpg"

Encode = Callable[..., bytes]


@pytest.fixture(scope="session")
def limits() -> MediaLimits:
    """The default limits of a jikimi install."""
    return MediaLimits.from_settings(Settings())


@pytest.fixture(scope="session")
def cat() -> Image.Image:
    """A 451 x 300 RGB photo (scikit-image's ``chelsea``)."""
    return Image.fromarray(skimage.data.chelsea())


@pytest.fixture(scope="session")
def coffee() -> Image.Image:
    """A 600 x 400 RGB photo (scikit-image's ``coffee``)."""
    return Image.fromarray(skimage.data.coffee())


@pytest.fixture(scope="session")
def bridge() -> Image.Image:
    """The 1600 x 1004 RGB photo of ThreatExchange's conformance set (decoded once)."""
    if not BRIDGE.exists():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    with Image.open(BRIDGE) as im:
        return im.convert("RGB")


@pytest.fixture(scope="session")
def encode() -> Encode:
    """``encode(image, "PNG", **save_options) -> bytes`` (``"HEIF"``: with pillow-heif)."""

    def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
        buf = io.BytesIO()
        if fmt == "HEIF":  # pillow-heif's encoder, without registering it in Pillow
            pillow_heif.from_pillow(image).save(buf, **options)
        else:
            image.save(buf, fmt, **options)
        return buf.getvalue()

    return _encode


@pytest.fixture(scope="session")
def cat_as(cat: Image.Image, encode: Encode) -> Callable[[str], bytes]:
    """``cat_as("GIF")``: the cat photo in a format, default options, encoded once."""
    cache: dict[str, bytes] = {}

    def _cat_as(fmt: str) -> bytes:
        if fmt not in cache:
            cache[fmt] = encode(cat, fmt)
        return cache[fmt]

    return _cat_as


def mad(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference per channel (a vector of 3 for RGB)."""
    return np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(axis=(0, 1))


@pytest.fixture(scope="session")
def per_channel_mad() -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    return mad

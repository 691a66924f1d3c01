"""Fixtures for the signal tests: pictures built the way the pipeline builds them.

Every picture goes through :func:`jikimi.media.load`, so these tests also cover the
decode path (JPEG DCT scaling, EXIF orientation) that the hashes really see.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from jikimi.config import Settings
from jikimi.media import MediaLimits, Picture, load

LoadBytes = Callable[[bytes], Picture]
Encode = Callable[..., bytes]


@pytest.fixture(scope="session")
def load_bytes() -> LoadBytes:
    limits = MediaLimits.from_settings(Settings())
    return lambda data: load(data, limits)


def _encode(rgb: np.ndarray, fmt: str = "JPEG", **params: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **params)
    return buf.getvalue()


@pytest.fixture(scope="session")
def encode() -> Encode:
    """``encode(rgb, fmt="JPEG", **save_params) -> bytes``: tests build files from arrays."""
    return _encode


@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    """A 512 x 512 natural photo, as a JPEG file."""
    return _encode(skdata.astronaut(), quality=90)


@pytest.fixture(scope="session")
def astronaut(load_bytes: LoadBytes, astronaut_jpeg: bytes) -> Picture:
    return load_bytes(astronaut_jpeg)

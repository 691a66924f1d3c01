"""A tilted picture's angle, read from the fill around it, and the picture turned back."""

from __future__ import annotations

import numpy as np
import pdqhash
import pytest
import skimage.data
from PIL import Image

from jikimi.media.deskew import find_tilt, upright


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(skimage.data.coffee()).convert("RGB")


def pdq_bits(rgb: np.ndarray) -> np.ndarray:
    bits, _ = pdqhash.compute(np.ascontiguousarray(rgb))
    return np.asarray(bits, dtype=np.uint8)


@pytest.mark.parametrize("degrees", [-10.0, -4.0, 3.0, 8.0])
@pytest.mark.parametrize("grown", [False, True])
@pytest.mark.parametrize("fill", [(0, 0, 0), (255, 255, 255)])
def test_the_angle_is_found_and_undone(
    photo: Image.Image, degrees: float, grown: bool, fill: tuple[int, int, int]
) -> None:
    tilted = photo.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=grown, fillcolor=fill)
    tilt = find_tilt(np.asarray(tilted))
    assert tilt is not None
    assert tilt.grown is grown
    assert abs(tilt.degrees - degrees) <= 0.6
    back = upright(np.asarray(tilted), tilt)
    assert max(back.shape[:2]) <= 512  # PDQ's working size
    if grown:  # cut to the original's shape
        assert abs(back.shape[1] / back.shape[0] - photo.width / photo.height) < 0.02
    plain = int((pdq_bits(np.asarray(tilted)) != pdq_bits(np.asarray(photo))).sum())
    turned = int((pdq_bits(back) != pdq_bits(np.asarray(photo))).sum())
    assert turned <= 31 < plain


def test_upright_and_unframed_pictures_have_no_tilt(photo: Image.Image) -> None:
    assert find_tilt(np.asarray(photo)) is None
    assert find_tilt(np.full((200, 300, 3), 255, dtype=np.uint8)) is None  # all fill
    assert find_tilt(np.zeros((20, 20, 3), dtype=np.uint8)) is None  # too small
    # one degree is within PDQ's reach: left as it is
    nearly = photo.rotate(0.5, resample=Image.Resampling.BICUBIC, fillcolor=(0, 0, 0))
    assert find_tilt(np.asarray(nearly)) is None


def test_a_picture_on_a_white_page_is_not_read_as_tilted(photo: Image.Image) -> None:
    """Corners of one colour but no rotated rectangle: a photo pasted on a page."""
    page = Image.new("RGB", (900, 700), (255, 255, 255))
    page.paste(photo, (150, 140))
    found = find_tilt(np.asarray(page))
    assert found is None or abs(found.degrees) < 1.0

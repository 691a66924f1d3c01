"""``Picture.rgb(min_side)``: cheap reduced JPEG decodes, deterministic caching."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from jikimi.domain import Media, MediaKind
from jikimi.media import MediaLimits, Picture, load

Encode = Callable[..., bytes]
Mad = Callable[[np.ndarray, np.ndarray], np.ndarray]


@pytest.fixture(scope="module")
def large_jpeg(bridge: Image.Image, encode: Encode) -> bytes:
    """A 3200 x 2008 JPEG (6.4 MP) of the bridge photo."""
    return encode(bridge.resize((3200, 2008), Image.Resampling.BICUBIC), "JPEG", quality=92)


@pytest.mark.parametrize(
    ("min_side", "expected"),
    [(64, (251, 400)), (320, (502, 800)), (600, (1004, 1600)), (1100, (2008, 3200))],
)
def test_draft_keeps_the_shorter_side_at_least_min_side(
    large_jpeg: bytes, limits: MediaLimits, min_side: int, expected: tuple[int, int]
) -> None:
    picture = load(large_jpeg, limits)
    pixels = picture.rgb(min_side=min_side)
    assert min(pixels.shape[:2]) >= min_side
    assert pixels.shape[:2] == expected  # the smallest DCT scale (1/8..1) that fits


def test_draft_pixels_are_close_to_a_resized_full_decode(
    large_jpeg: bytes, limits: MediaLimits, per_channel_mad: Mad
) -> None:
    full = load(large_jpeg, limits).rgb()
    small = load(large_jpeg, limits).rgb(min_side=200)
    assert small.shape[0] * small.shape[1] < full.shape[0] * full.shape[1] // 16
    resized = np.asarray(
        Image.fromarray(full).resize((small.shape[1], small.shape[0]), Image.Resampling.BOX)
    )
    assert per_channel_mad(small, resized).max() < 3.0


def test_min_side_larger_than_the_image_gives_the_full_image(
    large_jpeg: bytes, limits: MediaLimits
) -> None:
    picture = load(large_jpeg, limits)
    assert picture.rgb(min_side=5000).shape == (2008, 3200, 3)
    assert picture.rgb(min_side=5000) is picture.rgb()


def test_reduced_decode_does_not_depend_on_what_was_asked_before(
    large_jpeg: bytes, limits: MediaLimits
) -> None:
    # Hashes must not change with the order in which analysers run.
    fresh = load(large_jpeg, limits).rgb(min_side=64)
    warmed = load(large_jpeg, limits)
    warmed.rgb()
    warmed.rgb(min_side=320)
    assert np.array_equal(warmed.rgb(min_side=64), fresh)


def test_requests_at_the_same_scale_share_one_decode(
    large_jpeg: bytes, limits: MediaLimits
) -> None:
    picture = load(large_jpeg, limits)
    assert picture.rgb(min_side=64) is picture.rgb(min_side=200)  # both 1/8
    assert picture.rgb(min_side=64) is not picture.rgb(min_side=300)  # 1/4


def test_other_formats_decode_once_at_full_size(
    cat: Image.Image, encode: Encode, limits: MediaLimits
) -> None:
    picture = load(encode(cat, "PNG"), limits)
    small = picture.rgb(min_side=64)
    assert small.shape == (300, 451, 3)
    assert picture.rgb() is small


def test_cmyk_jpeg_draft(bridge: Image.Image, encode: Encode, limits: MediaLimits) -> None:
    data = encode(bridge.convert("CMYK"), "JPEG", quality=90)
    pixels = load(data, limits).rgb(min_side=100)
    assert pixels.shape == (126, 200, 3)


def test_from_array_keeps_the_callers_array_writable() -> None:
    array = np.zeros((4, 6, 3), dtype=np.uint8)
    media = Media(kind=MediaKind.IMAGE, format="raw", width=6, height=4, bytes=0, sha256="0" * 64)
    picture = Picture.from_array(array, media)
    assert np.shares_memory(picture.rgb(), array)
    assert picture.rgb(min_side=2) is picture.rgb()
    assert not picture.rgb().flags.writeable
    array[0, 0, 0] = 9  # still the caller's to change
    assert picture.rgb()[0, 0, 0] == 9

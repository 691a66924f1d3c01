"""EXIF orientation 1..8: sizes are reported, and pixels placed, as a viewer shows them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from jikimi.media import MediaLimits, load

Encode = Callable[..., bytes]

RED, BLUE, GREY = (255, 0, 0), (0, 0, 255), (128, 128, 128)
W, H = 64, 32  # stored size: landscape

# Where the stored top-left (red) and top-right (blue) corners must appear, by the
# EXIF specification's description of each value (not by our own transpose table).
CORNERS = {
    1: ("top-left", "top-right"),
    2: ("top-right", "top-left"),  # mirrored horizontally
    3: ("bottom-right", "bottom-left"),  # rotated 180
    4: ("bottom-left", "bottom-right"),  # mirrored vertically
    5: ("top-left", "bottom-left"),  # mirrored horizontally, rotated 270 CW
    6: ("top-right", "bottom-right"),  # rotated 90 CW
    7: ("bottom-right", "top-right"),  # mirrored horizontally, rotated 90 CW
    8: ("bottom-left", "top-left"),  # rotated 270 CW
}


def _stored() -> Image.Image:
    image = Image.new("RGB", (W, H), GREY)
    image.paste(RED, (0, 0, 16, 16))
    image.paste(BLUE, (W - 16, 0, W, 16))
    return image


def _corner(pixels: np.ndarray, name: str) -> tuple[int, ...]:
    y = 4 if name.startswith("top") else pixels.shape[0] - 5
    x = 4 if name.endswith("left") else pixels.shape[1] - 5
    return tuple(int(v) for v in pixels[y, x])


def _close(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return max(abs(p - q) for p, q in zip(a, b, strict=True)) <= 12


@pytest.mark.parametrize("pillow_format", ["JPEG", "PNG", "WEBP", "TIFF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation(
    orientation: int, pillow_format: str, encode: Encode, limits: MediaLimits
) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    options = {"quality": 95} if pillow_format == "JPEG" else {}
    picture = load(encode(_stored(), pillow_format, exif=exif.tobytes(), **options), limits)

    rotated = orientation >= 5
    expected_size = (H, W) if rotated else (W, H)
    assert (picture.media.width, picture.media.height) == expected_size
    pixels = picture.rgb()
    assert pixels.shape == (expected_size[1], expected_size[0], 3)
    red_at, blue_at = CORNERS[orientation]
    assert _close(_corner(pixels, red_at), RED), (red_at, _corner(pixels, red_at))
    assert _close(_corner(pixels, blue_at), BLUE)


@pytest.mark.parametrize("value", [0, 9, 65535])
def test_invalid_orientation_means_as_stored(
    value: int, encode: Encode, limits: MediaLimits
) -> None:
    exif = Image.Exif()
    exif[0x0112] = value
    picture = load(encode(_stored(), "PNG", exif=exif.tobytes()), limits)
    assert (picture.media.width, picture.media.height) == (W, H)
    assert _close(_corner(picture.rgb(), "top-left"), RED)


def test_orientation_also_applies_to_reduced_decodes(encode: Encode, limits: MediaLimits) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    big = _stored().resize((W * 16, H * 16), Image.Resampling.NEAREST)  # 1024 x 512
    picture = load(encode(big, "JPEG", exif=exif.tobytes(), quality=95), limits)
    assert (picture.media.width, picture.media.height) == (512, 1024)
    small = picture.rgb(min_side=64)
    assert small.shape == (128, 64, 3)  # 1/8 scale, rotated: shorter side 64
    assert _close(_corner(small, "top-right"), RED)
    assert _close(_corner(small, "bottom-right"), BLUE)

"""JPEGs decoded by OpenCV give exactly Pillow's pixels, at every scale and orientation."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from jikimi.media import MediaLimits, load
from jikimi.media.jpeg import decode_jpeg

Encode = Callable[..., bytes]


def pillow_pixels(data: bytes, scale: int, orientation: int = 1) -> np.ndarray:
    """What the Pillow path decodes: ``draft`` at ``scale``, RGB, EXIF transposed."""
    with Image.open(io.BytesIO(data)) as im:
        if scale > 1:
            im.draft("RGB", (im.width // scale, im.height // scale))
        rgb = im.convert("RGB")
    transpose = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)
    if transpose is not None:
        rgb = rgb.transpose(transpose)
    return np.asarray(rgb)


@pytest.fixture(scope="module")
def photo(bridge: Image.Image) -> Image.Image:
    """An odd-sized crop (no dimension divisible by 8), so partial DCT blocks are covered."""
    return bridge.crop((3, 5, 1203, 901)).resize((1201, 899))


@pytest.mark.parametrize("subsampling", [0, 1, 2])
@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_same_pixels_as_pillow(
    photo: Image.Image, encode: Encode, subsampling: int, progressive: bool, scale: int
) -> None:
    data = encode(photo, "JPEG", quality=88, subsampling=subsampling, progressive=progressive)
    ours = decode_jpeg(data, scale, None)
    assert ours is not None
    assert np.array_equal(ours, pillow_pixels(data, scale))


@pytest.mark.parametrize("scale", [1, 4])
def test_greyscale_is_spread_to_three_channels(
    photo: Image.Image, encode: Encode, scale: int
) -> None:
    data = encode(photo.convert("L"), "JPEG", quality=90)
    ours = decode_jpeg(data, scale, None)
    assert ours is not None and ours.shape[2] == 3
    assert np.array_equal(ours, pillow_pixels(data, scale))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_as_pillow_transposes(
    photo: Image.Image, encode: Encode, limits: MediaLimits, orientation: int
) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(photo, "JPEG", quality=90, exif=exif.tobytes())
    picture = load(data, limits)
    for min_side in (0, 200):
        pixels = picture.rgb(min_side=min_side)
        scale = 1 if min_side == 0 else 4  # 899 // 200 = 4
        assert np.array_equal(pixels, pillow_pixels(data, scale, orientation))
        assert pixels.flags.c_contiguous and not pixels.flags.writeable
        assert pixels.shape[:2] == (
            (picture.media.height + scale - 1) // scale,
            (picture.media.width + scale - 1) // scale,
        )


def test_cmyk_goes_to_pillow(photo: Image.Image, encode: Encode, limits: MediaLimits) -> None:
    """OpenCV converts CMYK one level off Pillow; Pillow keeps those files."""
    data = encode(photo.convert("CMYK"), "JPEG", quality=90)
    assert np.array_equal(load(data, limits).rgb(), pillow_pixels(data, 1))


def test_a_truncated_jpeg_never_takes_the_fast_path(
    photo: Image.Image, encode: Encode, limits: MediaLimits
) -> None:
    """OpenCV refuses a cut file; the loader decodes it from a completed copy with
    Pillow and marks it truncated (jikimi.media.truncation)."""
    data = encode(photo, "JPEG", quality=90)
    assert decode_jpeg(data[: len(data) - 2], 1, None) is None  # only the end marker lost
    assert decode_jpeg(data[: len(data) // 2], 1, None) is None
    cut = load(data[: len(data) - 2], limits)
    assert cut.media.truncated
    assert np.array_equal(cut.rgb(), load(data, limits).rgb())  # every scan line arrived

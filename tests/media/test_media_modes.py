"""Every Pillow mode decodes to RGB close to the original photo.

The conformance folder holds one photo saved in many modes; deeper modes (16-bit,
32-bit integer, float) and real transparency are built here from the same photo.
Closeness is the mean absolute difference per channel; grey-only files are
compared with the photo's luminance, dithered ones (1-bit, palettes) at 1/8 scale
where dithering averages out.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jikimi.media import MediaLimits, load

Encode = Callable[..., bytes]
Mad = Callable[[np.ndarray, np.ndarray], np.ndarray]

MODES = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "pdq" / "modes"
MODE_FILES = sorted(MODES.glob("*")) if MODES.exists() else []

DITHERED = {"1.png", "P.png", "PA.webp"}
"""Files whose pixels are dithered: compared at 1/8 scale."""


def _reduce(pixels: np.ndarray, factor: int = 8) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).reduce(factor))


def _grey(pixels: np.ndarray) -> bool:
    """Grey content (lossy WebP leaves the channels a level or so apart)."""
    spread = pixels.max(axis=2).astype(np.int16) - pixels.min(axis=2)
    return float(spread.mean()) < 1.0


@pytest.mark.skipif(not MODE_FILES, reason="conformance data not found")
@pytest.mark.parametrize("path", MODE_FILES, ids=[p.name for p in MODE_FILES])
def test_conformance_modes_decode_close_to_the_original(
    path: Path, bridge: Image.Image, limits: MediaLimits, per_channel_mad: Mad
) -> None:
    picture = load(path.read_bytes(), limits)
    pixels = picture.rgb()
    assert pixels.shape == (1004, 1600, 3)
    original = np.asarray(bridge)
    if _grey(pixels):  # 1, L, LA, and the I/F files (grey content)
        original = np.asarray(bridge.convert("L").convert("RGB"))
    if path.name in DITHERED:
        pixels, original = _reduce(pixels), _reduce(original)
    assert per_channel_mad(pixels, original).max() < 4.0


def test_conformance_folder_covers_the_modes() -> None:
    if not MODE_FILES:
        pytest.skip("conformance data not found")
    stems = {p.stem for p in MODE_FILES}
    assert {"1", "L", "LA", "P", "PA", "RGBA", "CMYK", "YCbCr", "HSV", "LAB", "I", "F"} <= stems


@pytest.fixture(scope="module")
def photo(bridge: Image.Image) -> Image.Image:
    """The bridge at 400 x 251: deep-mode tests need no more."""
    return bridge.resize((400, 251), Image.Resampling.BOX)


@pytest.fixture(scope="module")
def luma(photo: Image.Image) -> np.ndarray:
    return np.asarray(photo.convert("L"))


def _grey_image(values: np.ndarray, mode: str) -> Image.Image:
    """A one-band image of ``mode`` whose samples are ``values`` (dtype as the mode stores)."""
    return Image.frombytes(mode, (values.shape[1], values.shape[0]), values.tobytes())


@pytest.mark.parametrize(
    ("make", "pillow_format"),
    [
        # 16-bit samples holding the full 16-bit range, as scanners and HDR tools write
        (lambda l8: _grey_image(l8.astype("<u2") * 257, "I;16"), "PNG"),
        (lambda l8: _grey_image(l8.astype("<u2") * 257, "I;16"), "TIFF"),
        (lambda l8: _grey_image((l8.astype(np.uint16) * 257).astype(">u2"), "I;16B"), "TIFF"),
        # 32-bit integers: Pillow's own I images hold 0..255, 16-bit data 0..65535
        (lambda l8: _grey_image(l8.astype(np.int32), "I"), "TIFF"),
        (lambda l8: _grey_image(l8.astype(np.int32) * 257, "I"), "TIFF"),
        # floats: 0..1 (float imaging convention) and 0..255 (Pillow's F from 8-bit)
        (lambda l8: _grey_image(l8.astype(np.float32) / 255, "F"), "TIFF"),
        (lambda l8: _grey_image(l8.astype(np.float32), "F"), "TIFF"),
    ],
    ids=["I;16 png", "I;16 tiff", "I;16B tiff", "I 0-255", "I 0-65535", "F 0-1", "F 0-255"],
)
def test_deep_modes_are_scaled_by_their_range(
    make: Callable[[np.ndarray], Image.Image],
    pillow_format: str,
    luma: np.ndarray,
    encode: Encode,
    limits: MediaLimits,
    per_channel_mad: Mad,
) -> None:
    data = encode(make(luma), pillow_format)
    pixels = load(data, limits).rgb()
    expected = np.repeat(luma[..., None], 3, axis=2)
    assert per_channel_mad(pixels, expected).max() < 1.0


def test_16_bit_png_holding_8_bit_values_looks_black_as_in_every_viewer(
    luma: np.ndarray, encode: Encode, limits: MediaLimits
) -> None:
    # The file says 16 bits: values of 0..255 are at most 0.4% brightness.
    data = encode(_grey_image(luma.astype("<u2"), "I;16"), "PNG")
    assert load(data, limits).rgb().max() <= 1


def test_float_with_nan_and_negative_values(encode: Encode, limits: MediaLimits) -> None:
    values = np.array([[np.nan, -1.0, 0.0, 0.5, 1.0]], dtype=np.float32)
    pixels = load(encode(_grey_image(values, "F"), "TIFF"), limits).rgb()
    assert pixels[0, :, 0].tolist() == [0, 0, 0, 128, 255]


def _png16_rgb(rgb16: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one)."""
    height, width, _ = rgb16.shape
    rows = rgb16.astype(">u2").reshape(height, width * 6 // 2).view(np.uint8)
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_16_bit_rgb_png(photo: Image.Image, limits: MediaLimits, per_channel_mad: Mad) -> None:
    original = np.asarray(photo)
    pixels = load(_png16_rgb(original.astype(np.uint16) * 257), limits).rgb()
    assert per_channel_mad(pixels, original).max() < 0.6


@pytest.mark.parametrize(
    ("mode", "pillow_format", "tolerance"),
    [
        ("CMYK", "TIFF", 1.0),
        ("CMYK", "JPEG", 3.0),
        ("YCbCr", "TIFF", 2.0),
        ("LAB", "TIFF", 2.0),
        ("RGBA", "WEBP", 6.0),  # lossy
        ("RGBA", "TIFF", 0.0),
        ("PA", "TIFF", 16.0),  # adaptive palette: judged by the reduced comparison
        ("P", "GIF", 16.0),
    ],
)
def test_colour_modes_in_other_containers(
    photo: Image.Image,
    encode: Encode,
    limits: MediaLimits,
    per_channel_mad: Mad,
    mode: str,
    pillow_format: str,
    tolerance: float,
) -> None:
    source = photo.convert(mode)
    pixels = load(
        encode(source, pillow_format, **({"quality": 95} if pillow_format == "JPEG" else {})),
        limits,
    ).rgb()
    original = np.asarray(photo)
    assert per_channel_mad(pixels, original).max() <= tolerance
    assert per_channel_mad(_reduce(pixels, 4), _reduce(original, 4)).max() < 4.0


# --- transparency -------------------------------------------------------------------


def _rgba(colours: np.ndarray, alpha: np.ndarray) -> Image.Image:
    return Image.fromarray(np.dstack([colours.astype(np.uint8), alpha.astype(np.uint8)]), "RGBA")


def test_opaque_alpha_is_dropped_exactly(
    photo: Image.Image, encode: Encode, limits: MediaLimits
) -> None:
    original = np.asarray(photo)
    data = encode(_rgba(original, np.full(original.shape[:2], 255)), "PNG")
    assert np.array_equal(load(data, limits).rgb(), original)


def test_alpha_vignette_over_the_photo_keeps_the_stored_colours(
    photo: Image.Image, encode: Encode, limits: MediaLimits, per_channel_mad: Mad
) -> None:
    # Soft transparent edges over an intact photo: the stored colours are the picture.
    original = np.asarray(photo)
    h, w = original.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    radius = np.hypot((yy - h / 2) / (h / 2), (xx - w / 2) / (w / 2))
    alpha = np.clip((1.2 - radius) * 3, 0, 1) * 255
    for fmt, options, tolerance in (("PNG", {}, 0.0), ("WEBP", {"lossless": True}, 4.0)):
        pixels = load(encode(_rgba(original, alpha), fmt, **options), limits).rgb()
        assert per_channel_mad(pixels, original).max() <= tolerance, fmt


@pytest.mark.parametrize(
    ("colour", "alpha_of"),
    [(255, lambda l8: l8), (0, lambda l8: 255 - l8)],
    ids=["dark-mode trick", "light-mode trick"],
)
def test_picture_drawn_in_the_alpha_channel_is_seen(
    luma: np.ndarray,
    encode: Encode,
    limits: MediaLimits,
    per_channel_mad: Mad,
    colour: int,
    alpha_of: Callable[[np.ndarray], np.ndarray],
) -> None:
    # Flat colours, the picture only in alpha: invisible if alpha were dropped.
    colours = np.full((*luma.shape, 3), colour)
    data = encode(_rgba(colours, alpha_of(luma.astype(np.int32))), "PNG")
    pixels = load(data, limits).rgb()
    expected = np.repeat(luma[..., None], 3, axis=2)
    assert per_channel_mad(pixels, expected).max() < 1.0


def test_la_with_transparency(luma: np.ndarray, encode: Encode, limits: MediaLimits) -> None:
    la = Image.fromarray(np.dstack([np.full_like(luma, 255), luma]), "LA")
    pixels = load(encode(la, "PNG"), limits).rgb()
    assert np.abs(pixels[..., 0].astype(int) - luma).mean() < 1.0


def test_palette_with_transparent_index(
    photo: Image.Image, encode: Encode, limits: MediaLimits, per_channel_mad: Mad
) -> None:
    # A GIF whose border uses a transparent palette entry (a sticker).
    paletted = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
    cells = np.asarray(paletted).copy()
    cells[:20, :] = 255
    sticker = Image.fromarray(cells, "P")
    sticker.putpalette(paletted.getpalette() or [])
    pixels = load(encode(sticker, "GIF", transparency=255), limits).rgb()
    inner = np.asarray(photo)[20:]
    assert per_channel_mad(pixels[20:], inner).max() < 16
    border = pixels[:20].reshape(-1, 3)
    assert (border == border[0]).all()  # one flat colour where it is transparent


def test_colour_key_transparency_in_rgb_png(encode: Encode, limits: MediaLimits) -> None:
    image = Image.new("RGB", (64, 64), (10, 200, 30))
    image.paste((250, 0, 250), (0, 0, 32, 64))  # the colour that tRNS marks transparent
    data = encode(image, "PNG", transparency=(250, 0, 250))
    pixels = load(data, limits).rgb()
    assert tuple(pixels[0, 40]) == (10, 200, 30)
    assert tuple(pixels[0, 0]) in {(255, 255, 255), (0, 0, 0), (250, 0, 250)}

"""Truncated still images: decoded as far as they go, marked, never an exception.

Every cut of every format either decodes (``media.truncated`` set, the picture's
size unchanged) or is refused as ``corrupt_media``; a cut of a JPEG keeps a PDQ
hash near the whole file's while most of the picture is there.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jikimi.errors import CorruptMedia, MediaError
from jikimi.media import FileFormat, MediaLimits, load
from jikimi.media.truncation import complete
from jikimi.signals import PdqSignal

Encode = Callable[..., bytes]

SAMPLES = Path(str(resources.files("jikimi.data").joinpath("samples")))
THRESHOLD = 31  # the bank's PDQ match distance


def pdq(data: bytes, limits: MediaLimits) -> str:
    return PdqSignal.hash_picture(load(data, limits)).value


def cut(data: bytes, at: int | float) -> bytes:
    """``head -c -N`` for an int, the first fraction of the bytes for a float."""
    return data[:-at] if isinstance(at, int) else data[: int(len(data) * at)]


@pytest.mark.parametrize("name", ["astronaut.jpg", "coffee.jpg", "rocket.jpg"])
@pytest.mark.parametrize("at", [1, 2, 100])
def test_jpeg_cut_at_the_end_matches_the_original(name: str, at: int, limits: MediaLimits) -> None:
    data = (SAMPLES / name).read_bytes()
    picture = load(cut(data, at), limits)
    assert picture.media.truncated
    assert picture.media.sha256 != load(data, limits).media.sha256  # the bytes differ
    distance = PdqSignal.distance(PdqSignal.hash_picture(picture).value, pdq(data, limits))
    assert distance <= (0 if at <= 2 else THRESHOLD)  # 100 bytes: 8-14 bits measured


@pytest.mark.parametrize("at", [0.75, 0.5])
def test_progressive_jpeg_cut_in_half_still_matches(
    coffee: Image.Image, encode: Encode, limits: MediaLimits, at: float
) -> None:
    """Every scan of a progressive JPEG covers the whole picture: half of it is plenty."""
    data = encode(coffee, "JPEG", progressive=True, quality=90)
    picture = load(cut(data, at), limits)
    assert picture.media.truncated
    assert PdqSignal.distance(PdqSignal.hash_picture(picture).value, pdq(data, limits)) <= 8


@pytest.mark.parametrize("at", [0.75, 0.5])
def test_baseline_jpeg_cut_in_half_keeps_its_top(
    coffee: Image.Image, encode: Encode, limits: MediaLimits, at: float
) -> None:
    """A baseline JPEG's rows arrive top to bottom: the top decodes exactly, the rest
    is filled by libjpeg, and the hash moves away (48-64 bits measured: no match)."""
    data = encode(coffee, "JPEG", quality=90)
    whole = load(data, limits).rgb()
    picture = load(cut(data, at), limits)
    assert picture.media.truncated
    pixels = picture.rgb()
    assert pixels.shape == whole.shape
    top = int(whole.shape[0] * at * 0.6)
    assert np.abs(pixels[:top].astype(int) - whole[:top]).mean() < 1
    assert PdqSignal.hash_picture(picture).quality is not None


def test_conformance_photo_cut_at_the_end_matches(bridge: Image.Image, encode: Encode) -> None:
    """A real 1600 x 1004 camera photo (the PDQ conformance bridge)."""
    limits = MediaLimits(max_bytes=1 << 26, max_pixels=1 << 26, max_dimension=1 << 14)
    data = encode(bridge, "JPEG", quality=92)
    original = pdq(data, limits)
    for at in (2, 100, 0.98):
        picture = load(cut(data, at), limits)
        assert picture.media.truncated
        assert PdqSignal.distance(PdqSignal.hash_picture(picture).value, original) <= THRESHOLD


def test_whole_files_are_not_truncated(cat_as: Callable[[str], bytes], limits: MediaLimits) -> None:
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"):
        assert not load(cat_as(fmt), limits).media.truncated, fmt


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP"])
@pytest.mark.parametrize("at", [1, 2, 100])
def test_lossless_cut_at_the_end_decodes_the_same(
    cat_as: Callable[[str], bytes], limits: MediaLimits, fmt: str, at: int
) -> None:
    data = cat_as(fmt)
    picture = load(cut(data, at), limits)
    assert picture.media.truncated
    whole = load(data, limits).rgb()
    changed = (picture.rgb() != whole).any(axis=(1, 2)).sum()
    assert changed <= (2 if at == 100 else 0)  # 100 bytes: the last row (BMP: first) or two


def test_interlaced_png_cut_keeps_a_coarse_picture(
    coffee: Image.Image, limits: MediaLimits
) -> None:
    """Adam7: the first passes hold every eighth pixel of the whole picture."""
    data = _interlaced_png(coffee)
    assert data[28] == 1  # IHDR's interlace method: Adam7
    picture = load(cut(data, 0.5), limits)
    assert picture.media.truncated
    assert picture.rgb().shape == (400, 600, 3)


def _interlaced_png(image: Image.Image) -> bytes:
    """An Adam7 PNG through PyAV's encoder (Pillow writes no interlaced PNG)."""
    import av

    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = image.width, image.height, "rgb24"
    codec.options = {"pred": "none"}
    codec.flags |= av.codec.context.Flags.interlaced_dct
    frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")
    return b"".join(bytes(p) for p in codec.encode(frame))


def test_interlaced_gif_cut_in_half_shows_the_whole_picture(
    coffee: Image.Image, limits: MediaLimits
) -> None:
    import io

    buf = io.BytesIO()
    coffee.convert("P").save(buf, "GIF", interlace=True)
    data = buf.getvalue()
    original = pdq(data, limits)
    picture = load(cut(data, 0.5), limits)
    assert picture.media.truncated
    assert PdqSignal.distance(PdqSignal.hash_picture(picture).value, original) <= THRESHOLD


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_cut_decodes_or_is_corrupt(
    cat_as: Callable[[str], bytes], limits: MediaLimits, fmt: str
) -> None:
    """Cuts at 40 points of each format: a picture marked truncated, or corrupt_media."""
    data = cat_as(fmt)
    decoded = 0
    for n in np.linspace(1, len(data) - 1, 40).astype(int):
        try:
            picture = load(data[:n], limits)
            pixels = picture.rgb()
        except MediaError as exc:
            assert exc.code in ("corrupt_media", "unsupported_media"), exc.code
            continue
        assert picture.media.truncated
        assert pixels.shape == (300, 451, 3)
        decoded += 1
    # WebP and TIFF are completed only while no more is missing than arrived.
    assert decoded >= {"WEBP": 15, "TIFF": 15}.get(fmt, 30)


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("WEBP", {}),
        ("WEBP", {"lossless": True}),
        ("TIFF", {}),
        ("TIFF", {"compression": "packbits"}),
    ],
)
@pytest.mark.parametrize("at", [1, 2, 0.95])
def test_webp_and_tiff_cut_at_the_end_match_the_original(
    cat: Image.Image,
    encode: Encode,
    limits: MediaLimits,
    fmt: str,
    options: dict[str, object],
    at: int | float,
) -> None:
    """Zeros where the bytes are missing: libwebp and libtiff finish the picture."""
    data = encode(cat, fmt, **options)
    if fmt == "TIFF" and options:  # this writer puts the directory after the pixels
        with pytest.raises(CorruptMedia):
            load(cut(data, at), limits).rgb()
        return
    picture = load(cut(data, at), limits)
    assert picture.media.truncated
    distance = PdqSignal.distance(PdqSignal.hash_picture(picture).value, pdq(data, limits))
    assert distance <= THRESHOLD


def test_a_cut_before_any_pixel_is_corrupt(
    cat_as: Callable[[str], bytes], limits: MediaLimits
) -> None:
    data = cat_as("JPEG")
    sos = data.index(b"\xff\xda")
    header = data[: sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")]
    with pytest.raises(CorruptMedia, match="truncated or corrupt"):
        load(header, limits).rgb()
    assert load(data[: len(header) + 50], limits).rgb().shape == (300, 451, 3)


def test_completion_is_bounded_by_its_budget(cat_as: Callable[[str], bytes]) -> None:
    """A header claiming a huge picture is not padded past the budget."""
    for fmt in ("BMP", "WEBP", "TIFF"):
        whole = cat_as(fmt)
        data = whole[: len(whole) * 3 // 4]  # WebP and TIFF: no more missing than arrived
        assert complete(data, FileFormat[fmt], budget=1000) == data
        padded = complete(data, FileFormat[fmt], budget=1 << 22)
        assert padded is not None and len(padded) >= len(whole) - 1000, fmt


def test_a_small_file_claiming_a_huge_length_is_not_padded(cat_as: Callable[[str], bytes]) -> None:
    """A 3 KB WebP whose RIFF header claims 480 MB (found by the fuzz harness) cost
    gigabytes once padded; now a copy missing more than it holds is left as it is."""
    data = bytearray(cat_as("WEBP")[:3000])
    data[4:8] = (480_000_000).to_bytes(4, "little")
    assert complete(bytes(data), FileFormat.WEBP, budget=800_000_000) == bytes(data)
    whole = cat_as("WEBP")
    half = whole[: len(whole) // 2 + 1]
    padded = complete(half, FileFormat.WEBP, budget=800_000_000)
    assert padded is not None and len(padded) == len(whole) + len(whole) % 2


def test_completion_never_raises() -> None:
    rng = np.random.default_rng(5)
    heads = {
        FileFormat.JPEG: b"\xff\xd8",
        FileFormat.PNG: b"\x89PNG\r\n\x1a\n",
        FileFormat.GIF: b"GIF89a",
        FileFormat.BMP: b"BM",
        FileFormat.WEBP: b"RIFF",
        FileFormat.TIFF: b"II*\x00",
    }
    for fmt, head in heads.items():
        for size in (0, 1, 5, 20, 100, 3000):
            for _ in range(30):
                body = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
                result = complete(head + body, fmt, budget=1 << 20)
                assert result is None or isinstance(result, bytes)

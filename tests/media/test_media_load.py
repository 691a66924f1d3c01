"""``load``: every supported format round-trips; bad input gets the right typed error."""

from __future__ import annotations

import hashlib
import io
import struct
import time
import tracemalloc
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from jikimi.domain import MediaKind
from jikimi.errors import CorruptMedia, EmptyMedia, MediaError, MediaTooLarge, UnsupportedMedia
from jikimi.media import SUPPORTED_IMAGES, FileFormat, MediaLimits, Picture, load

Encode = Callable[..., bytes]
Mad = Callable[[np.ndarray, np.ndarray], np.ndarray]

# (Pillow format, save options, jikimi format, largest mean abs. difference per channel)
ROUND_TRIPS = [
    ("JPEG", {"quality": 95}, FileFormat.JPEG, 3.0),
    ("PNG", {}, FileFormat.PNG, 0.0),
    ("WEBP", {"lossless": True}, FileFormat.WEBP, 0.0),
    ("WEBP", {"quality": 90}, FileFormat.WEBP, 4.0),
    ("GIF", {}, FileFormat.GIF, 8.0),  # 256-colour palette
    ("BMP", {}, FileFormat.BMP, 0.0),
    ("TIFF", {}, FileFormat.TIFF, 0.0),
    ("TIFF", {"compression": "tiff_lzw"}, FileFormat.TIFF, 0.0),
    ("TIFF", {"compression": "jpeg"}, FileFormat.TIFF, 3.0),
    ("HEIF", {"quality": 90}, FileFormat.HEIC, 4.0),
    ("AVIF", {"quality": 90}, FileFormat.AVIF, 4.0),
]


@pytest.mark.parametrize(("pillow_format", "options", "fmt", "tolerance"), ROUND_TRIPS)
def test_round_trip(
    cat: Image.Image,
    encode: Encode,
    limits: MediaLimits,
    per_channel_mad: Mad,
    pillow_format: str,
    options: dict[str, object],
    fmt: FileFormat,
    tolerance: float,
) -> None:
    data = encode(cat, pillow_format, **options)
    picture = load(data, limits)
    media = picture.media
    assert (media.kind, media.format, media.width, media.height) == (
        MediaKind.IMAGE,
        fmt.value,
        451,
        300,
    )
    assert media.frames == 1
    assert media.bytes == len(data)
    assert media.sha256 == hashlib.sha256(data).hexdigest()
    assert picture.data is data
    assert picture.mime == f"image/{fmt.value}"
    assert media.analysed is None

    pixels = picture.rgb()
    assert pixels.shape == (300, 451, 3)
    assert pixels.dtype == np.uint8
    assert pixels.flags.c_contiguous
    assert per_channel_mad(pixels, np.asarray(cat)).max() <= tolerance


def test_every_supported_format_has_a_round_trip() -> None:
    assert {fmt for _, _, fmt, _ in ROUND_TRIPS} == set(SUPPORTED_IMAGES)


def test_pixels_are_read_only_and_cached(
    cat: Image.Image, encode: Encode, limits: MediaLimits
) -> None:
    picture = load(encode(cat, "PNG"), limits)
    first = picture.rgb()
    assert picture.rgb() is first
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0, 0] = 1


def test_load_reads_only_the_header(
    cat: Image.Image, encode: Encode, limits: MediaLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = encode(cat, "PNG", pnginfo=_png_text({"parameters": "steps: 20"}))

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("load() decoded pixels")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    picture = load(data, limits)  # succeeds: nothing was decoded
    assert picture.metadata.text == {"parameters": "steps: 20"}
    with pytest.raises(CorruptMedia):  # the decode callback wraps every exception
        picture.rgb()


def _png_text(chunks: dict[str, str]) -> object:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    return info


# --- frames --------------------------------------------------------------------


def _frames(n: int) -> list[Image.Image]:
    """Benign animation frames: the coffee photo shifted a little each time."""
    photo = Image.fromarray(skimage.data.coffee()).resize((120, 80))
    return [Image.fromarray(np.roll(np.asarray(photo), 7 * i, axis=1)) for i in range(n)]


@pytest.mark.parametrize(
    ("pillow_format", "options"),
    [("GIF", {"duration": 100, "loop": 0}), ("WEBP", {"duration": 100}), ("PNG", {})],
)
def test_animations_count_frames_and_decode_the_first(
    encode: Encode,
    limits: MediaLimits,
    per_channel_mad: Mad,
    pillow_format: str,
    options: dict[str, object],
) -> None:
    frames = _frames(3)
    data = encode(frames[0], pillow_format, save_all=True, append_images=frames[1:], **options)
    picture = load(data, limits)
    assert picture.media.frames == 3
    pixels = picture.rgb()
    assert pixels.shape == (80, 120, 3)
    first, second = (np.asarray(f) for f in frames[:2])
    assert per_channel_mad(pixels, first).max() < per_channel_mad(pixels, second).min()


def test_still_gif_has_one_frame(cat_as: Callable[[str], bytes], limits: MediaLimits) -> None:
    assert load(cat_as("GIF"), limits).media.frames == 1


def test_multipage_tiff_reports_its_pages(limits: MediaLimits) -> None:
    data = (Path(skimage.data.__file__).parent / "multipage.tif").read_bytes()
    picture = load(data, limits)
    assert picture.media.frames == 2
    assert picture.rgb().shape[2] == 3


def test_gif_with_damaged_later_frames_still_loads_its_first(
    encode: Encode, limits: MediaLimits
) -> None:
    frames = _frames(4)
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    cut = data[: int(len(data) * 0.7)]  # frames 3-4 are lost
    picture = load(cut, limits)
    assert picture.media.frames >= 1
    assert picture.rgb().shape == (80, 120, 3)


# --- unsupported, empty, garbage ---------------------------------------------------


def test_empty_input(limits: MediaLimits) -> None:
    with pytest.raises(EmptyMedia) as info:
        load(b"", limits)
    assert info.value.code == "empty_media"


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(100),
        bytes.fromhex("1a45dfa39f4286810142f7810142f2810442f381084282847765626d") + bytes(100),
        b"RIFF\x24\x00\x10\x00AVI LIST\x00\x01\x00\x00hdrlavih" + bytes(100),
    ],
    ids=["mp4", "webm", "avi"],
)
def test_video_is_not_supported_yet(data: bytes, limits: MediaLimits) -> None:
    with pytest.raises(UnsupportedMedia, match="video is not supported yet") as info:
        load(data, limits)
    assert info.value.code == "unsupported_media"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"%PDF-1.7\n" + bytes(100), "PDF document"),
        (b"\x00\x00\x00\x0cJXL \r\n\x87\n" + bytes(100), "JPEG XL"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG"),
        (b"PK\x03\x04" + bytes(100), "ZIP archive"),
        (b"hello, world\n", "text file"),
        (b"\x00" * 4096, "not a recognised image"),
        (bytes(range(7, 256)), "starts with bytes 07 08 09"),
    ],
)
def test_unsupported_input_is_named(data: bytes, words: str, limits: MediaLimits) -> None:
    with pytest.raises(UnsupportedMedia, match=words):
        load(data, limits)


def test_random_garbage_is_unsupported(limits: MediaLimits) -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        data = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
        with pytest.raises(MediaError) as info:
            load(data, limits).rgb()
        assert info.value.code in ("unsupported_media", "corrupt_media")


# --- truncated and corrupt -------------------------------------------------------


@pytest.mark.parametrize("pillow_format", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
@pytest.mark.parametrize("keep", [0.02, 0.3, 0.9])
def test_truncated_files_decode_or_are_corrupt(
    cat_as: Callable[[str], bytes], limits: MediaLimits, pillow_format: str, keep: float
) -> None:
    """What arrived is decoded and marked truncated, or the file is corrupt: nothing else."""
    data = cat_as(pillow_format)
    cut = data[: max(16, int(len(data) * keep))]
    try:
        picture = load(cut, limits)
        pixels = picture.rgb()
    except CorruptMedia as exc:
        assert "truncated" in exc.message
        assert exc.code == "corrupt_media"
        return
    assert picture.media.truncated
    assert pixels.shape == (300, 451, 3)
    assert pillow_format in ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")  # those completed


def test_truncated_png_loads_and_keeps_the_rows_that_arrived(
    cat: Image.Image, encode: Encode, limits: MediaLimits
) -> None:
    data = encode(cat, "PNG")
    picture = load(data[: len(data) // 2], limits)
    assert (picture.media.width, picture.media.height) == (451, 300)
    assert picture.media.truncated
    pixels = picture.rgb()
    whole = np.asarray(cat)
    rows = int((pixels.reshape(300, -1).max(axis=1) > 0).sum())
    assert 50 < rows < 300  # the top part arrived, the rest is black
    assert np.array_equal(pixels[:50], whole[:50])
    assert not pixels[-1].any()


def test_corrupt_png_crc_is_corrupt(cat: Image.Image, encode: Encode, limits: MediaLimits) -> None:
    data = bytearray(encode(cat, "PNG"))
    data[len(data) // 2] ^= 0xFF  # inside IDAT
    with pytest.raises(CorruptMedia):
        load(bytes(data), limits).rgb()


# --- limits: bytes, dimensions, decompression bombs ----------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny, hand-made PNG whose IHDR claims ``width x height`` 8-bit RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def test_png_bomb_is_refused_quickly_without_allocating(limits: MediaLimits) -> None:
    data = _png_claiming(100_000, 100_000)  # 30 GB once decoded
    assert len(data) < 200
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(MediaTooLarge) as info:
            load(data, limits)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 5_000_000
    assert "100,000 x 100,000" in info.value.message
    assert "30,000" in info.value.message  # the limit is named


def test_max_pixels(limits: MediaLimits) -> None:
    tight = MediaLimits(max_bytes=10_000, max_pixels=1_000_000, max_dimension=10_000)
    assert load(_png_claiming(1000, 1000), tight).media.width == 1000
    with pytest.raises(MediaTooLarge, match="1,002,000 pixels, over the limit of 1,000,000"):
        load(_png_claiming(1002, 1000), tight)


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, 0)])
def test_zero_sized_image_is_corrupt(width: int, height: int, limits: MediaLimits) -> None:
    with pytest.raises(CorruptMedia):
        load(_png_claiming(width, height), limits).rgb()


def test_max_dimension_applies_to_thin_images() -> None:
    tight = MediaLimits(max_bytes=10_000, max_pixels=10**9, max_dimension=5000)
    with pytest.raises(MediaTooLarge, match="at most 5,000 pixels"):
        load(_png_claiming(1, 5001), tight)


def test_max_bytes_is_checked_before_anything_else(cat: Image.Image, encode: Encode) -> None:
    data = encode(cat, "PNG")
    tight = MediaLimits(max_bytes=len(data) - 1, max_pixels=10**9, max_dimension=10**5)
    with pytest.raises(MediaTooLarge, match=f"{len(data):,} bytes, over the limit"):
        load(data, tight)
    with pytest.raises(MediaTooLarge):  # even garbage: size first, then format
        load(b"\x00" * len(data), tight)
    assert load(data, MediaLimits(len(data), 10**9, 10**5)).media.bytes == len(data)


def test_webp_bomb_is_refused_before_pillow_allocates_the_canvas(limits: MediaLimits) -> None:
    # VP8X header claiming a 16384 x 16384 canvas (1 GiB of RGBA) with no image data
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (16383).to_bytes(3, "little") * 2
    data = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body
    tracemalloc.start()
    try:
        with pytest.raises(MediaTooLarge, match="16,384 x 16,384"):
            load(data, limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_gif_frame_larger_than_its_screen_is_checked(encode: Encode) -> None:
    # A 10 x 10 screen whose first frame claims 60000 x 60000 at offset 0.
    data = bytearray(encode(Image.new("P", (10, 10)), "GIF"))
    at = data.index(b"\x2c")  # image descriptor
    data[at + 5 : at + 9] = struct.pack("<HH", 60000, 60000)
    tight = MediaLimits(max_bytes=10**6, max_pixels=10**8, max_dimension=30_000)
    with pytest.raises(MediaError) as info:
        load(bytes(data), tight).rgb()
    assert info.value.code in ("media_too_large", "corrupt_media")


@pytest.mark.parametrize("pillow_format", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_pillow_decompression_bomb_warning_never_escapes(
    cat_as: Callable[[str], bytes],
    limits: MediaLimits,
    monkeypatch: pytest.MonkeyPatch,
    pillow_format: str,
) -> None:
    # Pillow warns above MAX_IMAGE_PIXELS; our limits are the ones that apply.
    data = cat_as(pillow_format)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 451 * 300 - 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        picture = load(data, limits)
        assert picture.rgb().shape == (300, 451, 3)
    assert caught == []


# --- fuzzing -----------------------------------------------------------------------


def _load_fully(data: bytes) -> None:
    limits = MediaLimits(max_bytes=100_000, max_pixels=1_000_000, max_dimension=4000)
    try:
        picture = load(data, limits)
        picture.rgb()
        picture.rgb(min_side=8)
    except MediaError:
        pass  # the only exceptions allowed


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_raise_media_errors(data: bytes) -> None:
    _load_fully(data)


def _seeds() -> list[bytes]:
    photo = Image.fromarray(skimage.data.chelsea()).resize((24, 16))
    out = []
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"):
        buf = io.BytesIO()
        photo.save(buf, fmt)
        out.append(buf.getvalue())
    return out


SEEDS = _seeds()


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 10**6),
)
def test_damaged_images_only_raise_media_errors(
    seed: bytes, edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(seed)
    for where, value in edits:
        data[where % len(data)] = value
    _load_fully(bytes(data[: max(1, len(data) - cut % len(data))]))


def test_picture_interface_is_kept(cat: Image.Image, encode: Encode, limits: MediaLimits) -> None:
    picture = load(encode(cat, "PNG"), limits)
    assert isinstance(picture, Picture)
    assert picture.metadata.exif == {}
    assert picture.metadata.xmp is None

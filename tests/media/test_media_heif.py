"""HEIC/HEIF and AVIF: decoded like JPEG (orientation, limits, PDQ), bad input a clear error.

Every file here is encoded in memory from package images (scikit-image
photos, the conformance bridge photo) with pillow-heif's encoder (HEIC) or
Pillow's (AVIF).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pillow_heif
import pytest
import skimage.data
from PIL import Image

from jikimi.config import Settings
from jikimi.errors import CorruptMedia, MediaError, MediaTooLarge
from jikimi.media import FileFormat, MediaLimits, load, sniff
from jikimi.signals.pdq import PdqSignal

Encode = Callable[..., bytes]


def _pdq_bits(a: bytes, b: bytes, limits: MediaLimits) -> int:
    first = PdqSignal.hash_picture(load(a, limits)).value
    second = PdqSignal.hash_picture(load(b, limits)).value
    return (int(first, 16) ^ int(second, 16)).bit_count()


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.fixture(scope="module")
def photos(bridge: Image.Image) -> list[Image.Image]:
    """Natural photos, shrunk to about 400 px: x265 is slow on a shared machine."""
    found = [
        bridge,
        Image.fromarray(skimage.data.chelsea()),
        Image.fromarray(skimage.data.coffee()),
        Image.fromarray(skimage.data.astronaut()),
        Image.fromarray(skimage.data.rocket()),
    ]
    return [p.reduce(max(1, max(p.size) // 400)) for p in found]


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_pdq_equals_the_jpeg_of_the_same_picture(
    photos: list[Image.Image], encode: Encode, limits: MediaLimits, fmt: str
) -> None:
    for photo in photos:
        jpeg = encode(photo, "JPEG", quality=90)
        other = encode(photo, fmt, quality=80)
        assert _pdq_bits(jpeg, other, limits) <= 10


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_orientation_is_applied(
    cat: Image.Image, encode: Encode, limits: MediaLimits, fmt: str, orientation: int
) -> None:
    # Both encoders turn EXIF Orientation into the HEIF irot/imir boxes.
    data = encode(cat, fmt, quality=90, exif=_exif(orientation))
    picture = load(data, limits)
    turn = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_270}.get(
        orientation, Image.Transpose.ROTATE_90
    )
    upright = np.asarray(cat.transpose(turn), dtype=np.float32)
    assert (picture.media.width, picture.media.height) == upright.shape[1::-1]
    pixels = picture.rgb()
    assert pixels.shape == upright.shape
    assert np.abs(pixels.astype(np.float32) - upright).mean() < 3.0
    # the same PDQ as the upright JPEG
    assert _pdq_bits(encode(cat.transpose(turn), "JPEG", quality=90), data, limits) <= 10


def test_heif_orientation_is_not_applied_twice(cat: Image.Image, limits: MediaLimits) -> None:
    """libheif applies irot/imir; the EXIF Orientation left in the file must not rotate again."""
    heif = pillow_heif.from_pillow(cat)
    buf = io.BytesIO()
    heif.save(buf, quality=90, exif=_exif(6))
    picture = load(buf.getvalue(), limits)
    assert picture.metadata.exif.get("Orientation") in (None, "1")
    assert picture.rgb().shape == (451, 300, 3)


def test_load_reads_only_the_heif_header(
    cat: Image.Image, encode: Encode, limits: MediaLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = encode(cat, "HEIF", quality=80)

    def no_decoding(self: object) -> None:
        raise AssertionError("load() decoded pixels")

    monkeypatch.setattr(pillow_heif.HeifImageFile, "load", no_decoding)
    picture = load(data, limits)
    assert (picture.media.format, picture.media.width, picture.media.height) == ("heic", 451, 300)
    with pytest.raises(CorruptMedia):
        picture.rgb()


def test_heif_burst_analyses_the_primary_image(limits: MediaLimits) -> None:
    colours = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
    heif = pillow_heif.from_pillow(Image.new("RGB", (64, 48), colours[0]))
    for colour in colours[1:]:
        heif.add_from_pillow(Image.new("RGB", (64, 48), colour))
    buf = io.BytesIO()
    heif.save(buf, quality=90, primary_index=1)
    picture = load(buf.getvalue(), limits)
    assert (picture.media.frames, picture.media.analysed) == (3, "primary")
    assert np.abs(picture.rgb()[24, 32].astype(int) - (0, 255, 0)).max() <= 8


def _sequence(n: int) -> bytes:
    frames = [Image.new("RGB", (16, 16), (min(255, 40 * i), 80, 160)) for i in range(n)]
    buf = io.BytesIO()
    frames[0].save(buf, "AVIF", save_all=True, append_images=frames[1:], speed=10, quality=60)
    return buf.getvalue()


def test_avif_sequence_analyses_the_first_frame(limits: MediaLimits) -> None:
    data = _sequence(4)
    assert sniff(data).format is FileFormat.AVIF
    picture = load(data, limits)
    assert (picture.media.format, picture.media.frames, picture.media.analysed) == (
        "avif",
        4,
        "first",
    )
    assert np.abs(picture.rgb()[8, 8].astype(int) - (0, 80, 160)).max() <= 8


def test_avif_sequence_of_thousands_of_frames_is_refused(limits: MediaLimits) -> None:
    data = _sequence(1500)
    with pytest.raises(MediaTooLarge, match="1,500 images or frames") as info:
        load(data, limits)
    assert info.value.code == "media_too_large"


def test_frame_limit_comes_from_settings(cat: Image.Image, encode: Encode) -> None:
    tight = MediaLimits.from_settings(Settings(max_frames=3))
    assert load(_sequence(3), tight).media.frames == 3
    with pytest.raises(MediaTooLarge):
        load(_sequence(4), tight)


def _huge_grid(encode: Encode, side: int) -> bytes:
    """A 2 x 2 grid HEIC whose grid item declares ``side`` x ``side`` pixels."""
    tile = Image.fromarray(skimage.data.astronaut()).resize((128, 128))
    buf = io.BytesIO()
    pillow_heif.from_pillow(tile).save(buf, quality=60, tile_size=64)
    data = bytearray(buf.getvalue())
    ispe = data.find(b"ispe")  # the first one belongs to the grid item (128 x 128)
    assert data[ispe + 8 : ispe + 16] == (128).to_bytes(4, "big") * 2
    data[ispe + 8 : ispe + 16] = side.to_bytes(4, "big") * 2
    idat = data.find(b"idat")  # the grid descriptor: version, flags, rows-1, cols-1, w, h
    assert data[idat + 4 : idat + 12] == bytes.fromhex("0000010100800080")
    data[idat + 8 : idat + 12] = side.to_bytes(2, "big") * 2
    return bytes(data)


def test_huge_declared_grid_is_refused_before_decoding(encode: Encode, limits: MediaLimits) -> None:
    with pytest.raises(MediaTooLarge, match="60,000 x 60,000") as info:
        load(_huge_grid(encode, 60_000), limits)
    assert info.value.code == "media_too_large"
    # Past our limits, libheif's own security limit still refuses the allocation.
    loose = MediaLimits(max_bytes=10**6, max_pixels=10**10, max_dimension=100_000)
    with pytest.raises(MediaError):
        load(_huge_grid(encode, 60_000), loose).rgb()


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_truncated_files_are_a_clear_error(
    cat: Image.Image, encode: Encode, limits: MediaLimits, fmt: str
) -> None:
    data = encode(cat, fmt, quality=80)
    for cut in (12, 40, 200, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 1):
        with pytest.raises(MediaError) as info:
            load(data[:cut], limits).rgb()
        assert info.value.code in ("corrupt_media", "unsupported_media"), cut


def test_alpha_is_flattened_like_a_png(encode: Encode, limits: MediaLimits) -> None:
    """An alpha plane is applied to the primary image the way a PNG's alpha is."""
    rgb = np.asarray(Image.fromarray(skimage.data.coffee()).resize((160, 120)))
    alpha = np.tile(np.linspace(40, 255, 160, dtype=np.uint8), (120, 1))[..., None]
    rgba = Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA")
    png = load(encode(rgba, "PNG"), limits).rgb().astype(np.float32)
    for fmt in ("HEIF", "AVIF"):
        picture = load(encode(rgba, fmt, quality=95), limits)
        assert picture.media.frames == 1  # the alpha plane is not an image of its own
        assert np.abs(picture.rgb().astype(np.float32) - png).mean() < 4.0, fmt


def test_thumbnails_are_never_decoded(cat: Image.Image, limits: MediaLimits) -> None:
    buf = io.BytesIO()
    pillow_heif.from_pillow(cat).save(buf, quality=80, thumbnails=[64])
    assert pillow_heif.open_heif(buf.getvalue()).info["thumbnails"]  # there is one
    picture = load(buf.getvalue(), limits)
    assert picture.media.frames == 1
    assert picture.rgb(32).shape == (300, 451, 3)  # a reduced request still gets the image


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_exif_and_xmp_are_read(
    cat: Image.Image, encode: Encode, limits: MediaLimits, fmt: str
) -> None:
    exif = Image.Exif()
    exif[0x0131] = "Test Software 1.0"
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
    picture = load(encode(cat, fmt, quality=80, exif=exif.tobytes(), xmp=xmp), limits)
    assert picture.metadata.exif.get("Software") == "Test Software 1.0"
    assert picture.metadata.xmp is not None and "xmpmeta" in picture.metadata.xmp


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_damaged_bytes_are_decoded_or_a_clear_error(
    cat: Image.Image, encode: Encode, limits: MediaLimits, fmt: str
) -> None:
    data = encode(cat, fmt, quality=60)
    rng = np.random.default_rng(7)
    for _ in range(40):
        damaged = bytearray(data)
        for at in rng.integers(0, len(data), rng.integers(1, 6)):
            damaged[at] = rng.integers(0, 256)
        try:
            pixels = load(bytes(damaged), limits).rgb()
        except MediaError as exc:
            assert exc.code in ("corrupt_media", "unsupported_media", "media_too_large")
        else:
            assert pixels.dtype == np.uint8 and pixels.ndim == 3

"""The dwtDct watermark decoder against the ``invisible-watermark`` package itself.

``import imwatermark`` imports torch (for its RivaGAN method), which jikimi does
not install; the tests load the package's ``maxDct.py`` by path instead and use
its real encoder and decoder (see ``synthetic_files.package_max_dct``).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
import skimage.data
from PIL import Image
from synthetic_files import PHOTOS, Array, embed_watermark, encode_jpeg, encode_png, package_decode

from jikimi.config import Settings
from jikimi.detectors.synthetic import watermark as watermark_module
from jikimi.detectors.synthetic.watermark import (
    KNOWN_MESSAGES,
    SD_V1,
    SDXL,
    Domain,
    Message,
    WatermarkChecker,
    block_votes,
    could_survive,
    decode_bits,
    find_watermarks,
    haar_low,
)
from jikimi.domain import EvidenceKind, Strength
from jikimi.media import Picture

Read = Callable[[bytes], Picture]


@pytest.fixture(scope="module")
def checker() -> WatermarkChecker:
    return WatermarkChecker.from_settings(Settings())


@pytest.mark.parametrize("message", KNOWN_MESSAGES, ids=["sd-v1", "sdxl"])
def test_package_embedded_watermark_is_found_as_weak_evidence(
    astronaut: Array,
    checker: WatermarkChecker,
    read: Read,
    message: Message,
) -> None:
    marked = embed_watermark(astronaut, message.bits)
    (evidence,) = checker.check(read(encode_png(marked)))
    assert evidence.kind is EvidenceKind.WATERMARK
    assert evidence.strength is Strength.WEAK
    assert message.name in evidence.detail
    assert f"/{message.length} bits agree" in evidence.detail


def test_sdxl_embedded_on_float_pixels_is_found_in_the_float_domain(astronaut: Array) -> None:
    marked = embed_watermark(astronaut, SDXL.bits, floats=True)
    (found,) = find_watermarks(marked)
    assert found.message is SDXL
    assert found.domain is Domain.FLOAT
    assert found.agreeing >= SDXL.min_agreeing


@pytest.mark.parametrize("message", KNOWN_MESSAGES, ids=["sd-v1", "sdxl"])
def test_decoder_agrees_bit_for_bit_with_the_package(
    astronaut: Array, coffee: Array, message: Message
) -> None:
    for rgb in (embed_watermark(astronaut, message.bits), coffee, astronaut[3:, 5:]):
        ours = decode_bits(block_votes(rgb), message.length)
        np.testing.assert_array_equal(ours, package_decode(rgb, message.length))


def _clean_photos() -> list[tuple[str, Array]]:
    photos = [
        ("astronaut", skimage.data.astronaut()),
        ("coffee", skimage.data.coffee()),
        ("chelsea", skimage.data.chelsea()),
        ("rocket", skimage.data.rocket()),
    ]
    for path in PHOTOS[:12]:
        with Image.open(path) as im:
            photos.append((path.name, np.asarray(im.convert("RGB"))))
    return photos


def test_clean_photos_carry_no_watermark() -> None:
    for name, rgb in _clean_photos():
        assert find_watermarks(np.ascontiguousarray(rgb)) == (), name


def test_flat_images_decode_far_below_the_thresholds() -> None:
    # A flat image votes 0 everywhere: its agreement is the message's count of 0 bits.
    for value in (0, 128, 255):
        votes = block_votes(np.full((512, 512, 3), value, np.uint8))
        for message in KNOWN_MESSAGES:
            decoded = decode_bits(votes, message.length)
            agreeing = int(np.count_nonzero(decoded == np.asarray(message.bits, dtype=bool)))
            assert agreeing < message.min_agreeing - 8


def test_pictures_above_the_pixel_limit_are_not_decoded(astronaut: Array, read: Read) -> None:
    picture = read(encode_png(embed_watermark(astronaut, SD_V1.bits)))
    assert WatermarkChecker(max_pixels=512 * 512).check(picture)
    assert WatermarkChecker(max_pixels=512 * 512 - 1).check(picture) == ()


def test_pictures_below_256x256_are_not_decoded(checker: WatermarkChecker, read: Read) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (255, 256, 3), dtype=np.uint8)
    assert checker.check(read(encode_png(noise))) == ()
    assert find_watermarks(noise) == ()


def test_message_bits_match_their_published_values() -> None:
    assert np.packbits(np.asarray(SD_V1.bits, np.uint8)).tobytes() == b"StableDiffusionV1"
    assert len(SD_V1.bits) == 136
    assert (
        int("".join(map(str, SDXL.bits)), 2) == 0b101100111110110010010000011110111011000110011110
    )
    assert len(SDXL.bits) == 48


def test_haar_low_band_matches_pywavelets_bit_for_bit(coffee: Array) -> None:
    pywt = pytest.importorskip("pywt")
    channel = np.ascontiguousarray(coffee[:400, :600, 1])
    expected, _details = pywt.dwt2(channel, "haar")
    np.testing.assert_array_equal(haar_low(channel), expected)


def test_near_lossless_jpeg_is_decoded(checker: WatermarkChecker, read: Read) -> None:
    marked = embed_watermark(skimage.data.rocket(), SD_V1.bits)
    picture = read(encode_jpeg(marked, quality=98))
    assert could_survive(picture)
    (evidence,) = checker.check(picture)
    assert SD_V1.name in evidence.detail


def test_lossy_and_greyscale_jpegs_are_not_decoded(
    checker: WatermarkChecker, astronaut: Array, read: Read, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_decode(rgb: Array) -> tuple[()]:
        raise AssertionError("decoded a JPEG that cannot hold a watermark")

    monkeypatch.setattr(watermark_module, "find_watermarks", must_not_decode)
    grey = np.repeat(astronaut[:, :, :1], 3, axis=2)
    buf = io.BytesIO()
    Image.fromarray(grey[:, :, 0]).save(buf, "JPEG", quality=100)
    for data in (encode_jpeg(astronaut, quality=90), buf.getvalue()):
        picture = read(data)
        assert not could_survive(picture)
        assert checker.check(picture) == ()
    assert could_survive(read(encode_png(astronaut)))

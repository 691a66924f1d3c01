"""PDQ specifics: bit order, low quality, the reference resize, dihedral order, fast decode."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pdqhash
import pytest
from PIL import Image
from skimage import data as skdata
from threatexchange.signal_type.pdq.pdq_hasher import _pdq_from_numpy_array

from jikimi.domain import Media, MediaKind, SignalKind
from jikimi.media import Picture
from jikimi.signals import DihedralTransform, PdqSignal, hamming_hex
from jikimi.signals.pdq import (
    DECODE_MIN_SIDE,
    LOW_QUALITY,
    REFERENCE_SIDE,
    reference_resize,
)

LoadBytes = Callable[[bytes], Picture]
Encode = Callable[..., bytes]


def _picture(rgb: np.ndarray) -> Picture:
    h, w = rgb.shape[:2]
    media = Media(kind=MediaKind.IMAGE, format="raw", width=w, height=h, bytes=0, sha256="0")
    return Picture.from_array(rgb, media)


def test_hex_bit_order_is_threatexchange_s(astronaut: Picture) -> None:
    """Same pixels, same hex as the path Meta's HMA uses (MSB first)."""
    rgb = np.array(astronaut.rgb())  # <= 512 px: hashed as is, no resize
    expected, quality = _pdq_from_numpy_array(rgb)
    signal = PdqSignal.hash_picture(astronaut)
    assert (signal.value, signal.quality) == (expected, quality)


def test_low_quality_is_recorded_not_dropped() -> None:
    flat = _picture(np.full((100, 80, 3), 128, np.uint8))
    signal = PdqSignal.hash_picture(flat)
    assert signal.type is SignalKind.PDQ and signal.quality is not None
    assert signal.quality < LOW_QUALITY
    assert PdqSignal.validate(signal.value) == signal.value  # 64 hex digits, not ""


def test_tiny_images_hash_without_error() -> None:
    for shape in ((1, 1, 3), (1, 600, 3), (3, 2, 3)):
        signal = PdqSignal.hash_picture(_picture(np.zeros(shape, np.uint8)))
        assert len(signal.value) == 64 and signal.quality == 0


def test_reference_resize_samples_like_cimg_nearest_neighbour() -> None:
    h, w = 1004, 1600
    rows, cols = np.mgrid[0:h, 0:w]
    coded = np.stack([rows % 256, rows // 256, cols % 256], axis=-1).astype(np.uint8)
    out = reference_resize(coded)
    assert out.shape == (REFERENCE_SIDE, REFERENCE_SIDE, 3) and out.flags.c_contiguous
    got_rows = out[:, 0, 0].astype(int) + 256 * out[:, 0, 1].astype(int)
    got_cols = out[0, :, 2].astype(int)
    i = np.arange(REFERENCE_SIDE)
    assert (got_rows == i * h // REFERENCE_SIDE).all()
    assert (got_cols == (i * w // REFERENCE_SIDE) % 256).all()


def test_reference_resize_squashes_when_either_side_is_over_512() -> None:
    wide = np.zeros((300, 900, 3), np.uint8)
    assert reference_resize(wide).shape == (512, 512, 3)  # 300 rows stretched, like CImg
    small = np.zeros((512, 200, 3), np.uint8)
    assert reference_resize(small) is small


def test_dihedral_order_matches_numpy_transforms() -> None:
    """Each transform of the image hashes closest to its own dihedral slot.

    Not exactly to it: PDQ's filter windows are not symmetric, so even without any
    resize a transformed image is up to 16 bits from its dihedral hash (measured on
    astronaut, coffee, chelsea); still well inside the match threshold.
    """
    rgb = skdata.astronaut()  # 512 x 512: hashed without the reference resize
    hashes = PdqSignal.dihedral_hashes(_picture(rgb))
    transforms = {
        DihedralTransform.ORIGINAL: rgb,
        DihedralTransform.ROTATE_90: np.rot90(rgb, 1),
        DihedralTransform.ROTATE_180: np.rot90(rgb, 2),
        DihedralTransform.ROTATE_270: np.rot90(rgb, 3),
        DihedralTransform.FLIP_X: rgb[::-1],
        DihedralTransform.FLIP_Y: rgb[:, ::-1],
        DihedralTransform.FLIP_PLUS_1: rgb.transpose(1, 0, 2),
        DihedralTransform.FLIP_MINUS_1: np.rot90(rgb, 2).transpose(1, 0, 2),
    }
    assert len(hashes) == len(DihedralTransform) == 8
    order = list(DihedralTransform)
    for transform, pixels in transforms.items():
        h = PdqSignal.hash_picture(_picture(np.ascontiguousarray(pixels))).value
        distances = [hamming_hex(h, d) for d in hashes]
        assert distances.index(min(distances)) == order.index(transform)
        assert min(distances) <= PdqSignal.default_threshold()


def test_dihedral_original_is_the_plain_hash(astronaut: Picture) -> None:
    dihedral = PdqSignal.dihedral_hashes(astronaut)
    assert dihedral[0] == PdqSignal.hash_picture(astronaut).value


@pytest.mark.parametrize("shape", [(1600, 2200), (2200, 1600)])
def test_scaled_jpeg_decode_stays_close_to_the_full_decode(
    load_bytes: LoadBytes, encode: Encode, shape: tuple[int, int]
) -> None:
    """The speed path (DCT-scaled decode) against the reference path (full decode)."""
    h, w = shape
    source = Image.fromarray(skdata.chelsea()).resize((w, h), Image.Resampling.BICUBIC)
    noisy = np.asarray(source, np.float32) + np.random.default_rng(0).normal(0, 3, (h, w, 3))
    picture = load_bytes(encode(np.clip(noisy, 0, 255).astype(np.uint8), quality=90))
    fast = picture.rgb(min_side=DECODE_MIN_SIDE)
    assert min(fast.shape[:2]) < min(h, w)  # really decoded at a reduced scale
    full_bits, full_quality = pdqhash.compute(reference_resize(picture.rgb()))
    full = np.packbits(full_bits.astype(np.uint8)).tobytes().hex()
    signal = PdqSignal.hash_picture(picture)
    assert hamming_hex(signal.value, full) <= 8  # the documented worst case
    assert signal.quality == full_quality

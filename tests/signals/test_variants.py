"""Variant PDQ hashes: an upload's (trimmed, framed, deskewed) and a banked picture's (crops)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from jikimi.domain import Variant
from jikimi.errors import InvalidHash
from jikimi.media import Picture
from jikimi.signals import PdqSignal
from jikimi.signals.variants import (
    BANK_VARIANTS,
    bank_variants,
    format_variants,
    parse_variants,
    query_variants,
)

LoadBytes = Callable[[bytes], Picture]
Encode = Callable[..., bytes]


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(skdata.chelsea())


def pdq(load_bytes: LoadBytes, encode: Encode, rgb: np.ndarray) -> str:
    return PdqSignal.hash_picture(load_bytes(encode(rgb))).value


def test_a_plain_photo_has_no_query_variants(
    load_bytes: LoadBytes, encode: Encode, photo: np.ndarray
) -> None:
    assert query_variants(load_bytes(encode(photo))) == ()


def test_a_padded_copy_is_trimmed_back_to_its_original(
    load_bytes: LoadBytes, encode: Encode, photo: np.ndarray
) -> None:
    canvas = np.full((photo.shape[0] + 160, photo.shape[1] + 40, 3), 20, dtype=np.uint8)
    canvas[80 : 80 + photo.shape[0], 20 : 20 + photo.shape[1]] = photo
    original = pdq(load_bytes, encode, photo)
    assert PdqSignal.distance(pdq(load_bytes, encode, canvas), original) > 31
    found = query_variants(load_bytes(encode(canvas)), dihedral=True)
    trimmed = [v for v in found if v.via is Variant.TRIMMED]
    assert trimmed and PdqSignal.distance(trimmed[0].value, original) <= 31
    assert len(trimmed[0].flips) == 8 and trimmed[0].flips[0] == trimmed[0].value


def test_a_tilted_copy_is_turned_back(
    load_bytes: LoadBytes, encode: Encode, photo: np.ndarray
) -> None:
    tilted = np.asarray(
        Image.fromarray(photo).rotate(-7, resample=Image.Resampling.BICUBIC, expand=True)
    )
    # the black corners may also be trimmed; the deskewed variant is the one that matches
    found = next(v for v in query_variants(load_bytes(encode(tilted))) if v.via is Variant.DESKEWED)
    assert PdqSignal.distance(found.value, pdq(load_bytes, encode, photo)) <= 31


def test_bank_variants_reach_cropped_copies(
    load_bytes: LoadBytes, encode: Encode, photo: np.ndarray
) -> None:
    found = bank_variants(load_bytes(encode(photo)))
    assert [v.via for v in found] == [Variant.CROP6, Variant.CROP12]  # no borders to trim
    h, w = photo.shape[:2]
    for share, via in ((0.05, Variant.CROP6), (0.10, Variant.CROP12)):
        dy, dx = round(h * share / 2), round(w * share / 2)
        copy = pdq(load_bytes, encode, photo[dy : h - dy, dx : w - dx])
        assert PdqSignal.distance(copy, pdq(load_bytes, encode, photo)) > 31
        variant = next(v for v in found if v.via is via)
        assert PdqSignal.distance(copy, variant.value) <= 31


def test_a_flat_picture_keeps_no_variants(load_bytes: LoadBytes, encode: Encode) -> None:
    flat = np.full((300, 300, 3), 128, dtype=np.uint8)
    assert bank_variants(load_bytes(encode(flat))) == ()


def test_the_stored_form_round_trips_and_refuses_junk(
    load_bytes: LoadBytes, encode: Encode, photo: np.ndarray
) -> None:
    found = bank_variants(load_bytes(encode(photo)))
    assert parse_variants(format_variants(found)) == [(v.via, v.value) for v in found]
    assert parse_variants("") == []
    assert set(BANK_VARIANTS) >= {v.via for v in found}
    with pytest.raises(InvalidHash):
        parse_variants("crop6:abc")
    with pytest.raises(InvalidHash):
        parse_variants("sideways:" + "0" * 64)

"""Variant PDQ hashes: a framed copy's variant lands near the bare original's PDQ."""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from jikimi.media import MediaLimits, Picture, load
from jikimi.model import Variant
from jikimi.signals import PdqSignal
from jikimi.signals.variants import variant_hashes

SAMPLES = Path(str(resources.files("jikimi.data").joinpath("samples")))
LIMITS = MediaLimits(max_bytes=50_000_000, max_pixels=50_000_000, max_dimension=20_000)


def picture_of(image: Image.Image) -> Picture:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return load(out.getvalue(), LIMITS)


def test_a_letterboxed_copy_matches_through_its_trimmed_variant() -> None:
    photo = Image.open(SAMPLES / "coffee.jpg").convert("RGB")
    original = PdqSignal.hash_picture(picture_of(photo)).value
    boxed = Image.new("RGB", (photo.width, photo.width), (0, 0, 0))
    boxed.paste(photo, (0, (photo.width - photo.height) // 2))
    copy = picture_of(boxed)
    assert PdqSignal.distance(PdqSignal.hash_picture(copy).value, original) > 31
    found = variant_hashes(copy)
    assert [v.via for v in found] == [Variant.TRIMMED]
    assert PdqSignal.distance(found[0].value, original) <= 16
    assert found[0].flips == () and found[0].quality >= 50


def test_flips_of_a_variant_are_its_dihedral_hashes() -> None:
    photo = Image.open(SAMPLES / "coffee.jpg").convert("RGB")
    mirrored = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    padded = Image.new("RGB", (photo.width + 200, photo.height), (255, 255, 255))
    padded.paste(mirrored, (100, 0))
    original = PdqSignal.hash_picture(picture_of(photo)).value
    (variant,) = variant_hashes(picture_of(padded), dihedral=True)
    assert len(variant.flips) == 8 and variant.flips[0] == variant.value
    assert min(PdqSignal.distance(f, original) for f in variant.flips) <= 31


def test_a_bare_photo_has_no_variants_and_a_flat_remainder_none_either() -> None:
    assert variant_hashes(picture_of(Image.open(SAMPLES / "astronaut.jpg"))) == ()
    # inside the frame, nothing but a soft blur: PDQ quality under 50, so no variant
    canvas = np.full((400, 400, 3), 255, dtype=np.uint8)
    ramp = np.linspace(100, 108, 200, dtype=np.uint8)[None, :, None]
    canvas[100:300, 100:300] = np.repeat(np.repeat(ramp, 200, axis=0), 3, axis=2)
    assert variant_hashes(picture_of(Image.fromarray(canvas))) == ()

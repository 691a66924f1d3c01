"""Face photos for the face tests: benign photos shipped with jikimi or in the corpus.

Variations (scale, JPEG) are made in memory from existing photos; no imagery of a
person is generated.
"""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "benign" / "images"
GROUP_PHOTO = CORPUS / "mei_00031.jpg"
"""A group photo in the benign corpus with six clear faces."""


def sample(name: str) -> bytes:
    return resources.files("jikimi.data").joinpath(f"samples/{name}").read_bytes()


def astronaut() -> bytes:
    """A portrait with one clear face (NASA, public domain)."""
    return sample("astronaut.jpg")


def rgb_of(data: bytes) -> NDArray[np.uint8]:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def jpeg(rgb: NDArray[np.uint8], quality: int = 90) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=quality)
    return out.getvalue()


def scaled(data: bytes, factor: float) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return jpeg(np.asarray(image.resize(size, Image.Resampling.LANCZOS)))


def blurred_by_scale(data: bytes, factor: int = 8) -> bytes:
    """Down-scaled by ``factor`` and back up: the same size, detail gone."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    small = image.resize((image.width // factor, image.height // factor), Image.Resampling.BOX)
    return jpeg(np.asarray(small.resize(image.size, Image.Resampling.BILINEAR)))


def variant(data: bytes) -> bytes:
    """Another copy of the photo as a platform would see it: cropped wider, re-encoded."""
    rgb = rgb_of(data)
    h, w = rgb.shape[:2]
    return jpeg(np.ascontiguousarray(rgb[h // 20 :, : w - w // 20]), quality=60)

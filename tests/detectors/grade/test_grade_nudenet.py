"""Our pre- and post-processing reproduce NudeNet's, step by step and end to end.

NudeNet is the reference: same weights, so the same pixels must give the same
regions. Each stage is compared on its own (the input blob bit for bit, the
post-processing on real and on synthetic model outputs exactly), then whole
detections on benign photos, non-square and EXIF-rotated files, a mosaic with
several faces, and a large JPEG that we decode at reduced scale.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data
from grade_helpers import (
    COLOUR_WHEEL,
    NATURAL_PHOTOS,
    assert_same,
    conformance_photos,
    iou,
    jpeg,
)
from nudenet import nudenet as reference
from PIL import Image, ImageOps

from jikimi.detectors.grade import GradeDetector
from jikimi.detectors.grade.model import Geometry, decode, decode_min_side, letterbox
from jikimi.media import Picture

Read = Callable[[bytes], Picture]
RNG_SEED = 20240629

BLOB_SIZES = [
    (480, 640), (640, 480), (640, 640), (1004, 1600), (1600, 1004), (321, 320),
    (320, 321), (34, 42), (1, 1), (2, 3), (7, 1000), (1000, 7), (1500, 2000),
    # a short side that scales below 1 px (it used to reach cv2.resize as 0 px)
    (1281, 1), (1, 1281), (2, 2000), (2000, 2), (1, 1999), (3, 1921), (641, 1),
]  # fmt: skip


def _random_sizes(n: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(RNG_SEED)
    return [(int(h), int(w)) for h, w in rng.integers(1, 1800, size=(n, 2))]


@pytest.mark.parametrize(("height", "width"), BLOB_SIZES + _random_sizes(12))
def test_letterbox_is_nudenets_blob_bit_for_bit(height: int, width: int) -> None:
    bgr = np.random.default_rng(height * 7919 + width).integers(
        0, 256, (height, width, 3), dtype=np.uint8
    )
    theirs = reference._read_image(bgr, 320)[0][0]
    ours = letterbox(np.ascontiguousarray(bgr[:, :, ::-1]), 320)
    assert ours.shape == theirs.shape == (3, 320, 320)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    ("height", "width"), [(480, 640), (1280, 1280), (700, 1500), (90, 60), (1, 1281), (2000, 3)]
)
def test_letterbox_at_640_for_larger_models(height: int, width: int) -> None:
    bgr = np.random.default_rng(height + width).integers(0, 256, (height, width, 3), np.uint8)
    theirs = reference._read_image(bgr, 640)[0][0]
    np.testing.assert_array_equal(letterbox(np.ascontiguousarray(bgr[:, :, ::-1]), 640), theirs)


def _reference_postprocess(raw: np.ndarray, width: int, height: int) -> list[dict[str, Any]]:
    side = max(width, height)
    result: list[dict[str, Any]] = reference._postprocess(
        [raw[None]], side - width, side - height, side / width, side / height,
        width, height, 320, 320,
    )  # fmt: skip
    return result


def _as_tuples(regions: Any) -> list[tuple[str, float, tuple[int, ...]]]:
    return [(r.label, r.score, r.box) for r in regions]


def _ref_tuples(dets: list[dict[str, Any]]) -> list[tuple[str, float, tuple[int, ...]]]:
    return [(d["class"], d["score"], tuple(d["box"])) for d in dets]


def test_decode_equals_nudenet_postprocess_on_real_outputs(detector: GradeDetector) -> None:
    model = detector._model()
    compared = 0
    for path in [*NATURAL_PHOTOS, COLOUR_WHEEL]:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        height, width = rgb.shape[:2]
        raw = model.run(letterbox(rgb, 320)[None])[0]
        ours = decode(raw, Geometry(width, height, width, height), 320)
        theirs = _reference_postprocess(raw, width, height)
        assert _as_tuples(ours) == _ref_tuples(theirs), path.name
        compared += len(theirs)
    assert compared >= 3  # two faces and the colour wheel: the comparison is not vacuous


def _synthetic_output(rng: np.random.Generator, anchors: int = 2100) -> np.ndarray:
    """A raw output with clusters of overlapping boxes, ties, and boxes off the edges."""
    out = np.zeros((22, anchors), dtype=np.float32)
    out[0:2] = rng.uniform(-20, 340, (2, anchors))
    out[2:4] = rng.uniform(1, 200, (2, anchors))
    out[4:] = rng.uniform(0, 0.3, (18, anchors))
    hot = rng.choice(anchors, 120, replace=False)
    centres = rng.uniform(0, 320, (6, 2))
    for i, a in enumerate(hot):
        cx, cy = centres[i % 6] + rng.normal(0, 8, 2)
        out[0:4, a] = (cx, cy, *rng.uniform(20, 120, 2))
        out[4 + rng.integers(18), a] = rng.uniform(0.2, 1.0)
    out[4:, hot[:10]] = 0.0
    out[4 + 3, hot[:10]] = np.float32(0.75)  # ten exact ties
    out[4 + 5, hot[10:14]] = np.float32(0.25)  # exactly at the threshold: dropped
    return out


@pytest.mark.parametrize("geometry", [(500, 300), (300, 500), (320, 320), (1000, 999), (41, 7)])
def test_decode_equals_nudenet_postprocess_on_synthetic_outputs(
    geometry: tuple[int, int],
) -> None:
    rng = np.random.default_rng(RNG_SEED + geometry[0])
    width, height = geometry
    for _ in range(4):
        raw = _synthetic_output(rng)
        ours = decode(raw, Geometry(width, height, width, height), 320)
        theirs = _reference_postprocess(raw, width, height)
        assert len(theirs) > 3
        assert _as_tuples(ours) == _ref_tuples(theirs)


@pytest.mark.parametrize(
    "path", [*NATURAL_PHOTOS, COLOUR_WHEEL, *conformance_photos()], ids=lambda p: p.name
)
def test_detect_matches_nudenet_on_benign_images(
    path: Path, detector: GradeDetector, peer: Any, read: Read
) -> None:
    ours = detector.detect([read(path.read_bytes())])[0]
    assert_same(ours, peer.detect(str(path)), path.name)


def test_faces_are_found_so_the_comparison_is_not_vacuous(
    detector: GradeDetector, read: Read
) -> None:
    found = {
        p.name: [r.label for r in detector.detect([read(p.read_bytes())])[0]]
        for p in NATURAL_PHOTOS[:2]
    }
    assert found == {"astronaut.png": ["FACE_FEMALE"], "camera.png": ["FACE_MALE"]}


def _mosaic() -> np.ndarray:
    """Three benign photos on a wide grey canvas: two faces, off-centre, non-square."""
    canvas = np.full((330, 760, 3), 90, dtype=np.uint8)
    canvas[10:310, 10:260] = skimage.data.astronaut()[0:300, 100:350]
    canvas[50:320, 280:550] = np.repeat(skimage.data.camera()[30:300, 90:360, None], 3, axis=2)
    canvas[140:320, 570:740] = skimage.data.chelsea()[:180, :170]
    return canvas


def test_detect_matches_nudenet_on_a_mosaic(detector: GradeDetector, peer: Any, read: Read) -> None:
    data = jpeg(_mosaic())
    ours = detector.detect([read(data)])[0]
    assert sum(r.label.startswith("FACE") for r in ours) >= 2, ours
    assert_same(ours, peer.detect(data), "mosaic")


def _upright_bgr(data: bytes) -> np.ndarray:
    """The displayed pixels of a file (EXIF applied), as NudeNet takes arrays: BGR."""
    with Image.open(io.BytesIO(data)) as im:
        upright = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    return np.ascontiguousarray(upright[:, :, ::-1])


# Stored pixels for each EXIF orientation, so that the viewer shows the same image.
_STORE = {
    1: lambda a: a,
    3: lambda a: np.rot90(a, 2),
    6: lambda a: np.rot90(a, 1),
    8: lambda a: np.rot90(a, -1),
    5: lambda a: np.rot90(a, 1)[::-1],
}


@pytest.mark.parametrize("orientation", sorted(_STORE))
def test_boxes_are_in_displayed_coordinates_for_exif_rotated_files(
    orientation: int, detector: GradeDetector, peer: Any, read: Read
) -> None:
    upright = np.ascontiguousarray(skimage.data.astronaut()[:, 40:400])  # 512 high, 360 wide
    data = jpeg(np.ascontiguousarray(_STORE[orientation](upright)), orientation)
    picture = read(data)
    assert (picture.media.width, picture.media.height) == (360, 512)
    ours = detector.detect([picture])[0]
    assert_same(ours, peer.detect(_upright_bgr(data)), f"orientation {orientation}")
    face = [r for r in ours if r.label == "FACE_FEMALE"]
    assert face, ours
    # Where the face is in the upright photo (NudeNet on the unrotated pixels).
    expected = peer.detect(np.ascontiguousarray(upright[:, :, ::-1]))[0]["box"]
    assert iou(face[0].box, expected) >= 0.8


def test_decode_min_side_keeps_four_times_the_model_resolution() -> None:
    assert decode_min_side(1280, 960, 320) == 0  # long side <= 4 x 320: full decode
    assert decode_min_side(1600, 1004, 320) == 804  # no 1/2-scale decode is that large
    assert decode_min_side(4000, 3000, 320) == 960  # long side stays >= 1280
    assert decode_min_side(3000, 4000, 320) == 960
    assert decode_min_side(2560, 100, 320) == 50
    assert decode_min_side(1280, 1280, 320) == 0


def test_large_jpeg_decoded_at_reduced_scale_agrees_with_nudenet(
    detector: GradeDetector, peer: Any, read: Read
) -> None:
    big = Image.fromarray(skimage.data.astronaut()).resize((2816, 2816), Image.Resampling.LANCZOS)
    data = jpeg(np.asarray(big), quality=90)
    picture = read(data)
    reduced = picture.rgb(decode_min_side(2816, 2816, 320))
    assert reduced.shape[:2] == (1408, 1408)  # the detector will see a half-scale decode
    ours = detector.detect([picture])[0]
    assert [r.label for r in ours] == ["FACE_FEMALE"]
    assert ours[0].box[0] > 512  # original coordinates, not the decoded ones
    assert_same(ours, peer.detect(data), "2816 px astronaut")

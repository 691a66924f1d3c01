"""Scene cuts on real decoder output: videos encoded with PyAV from flat colours and photos.

Each test writes a small H.264 MP4 (or an animated GIF) into ``tmp_path`` whose
shots start at known frames, decodes it through :func:`jikimi.media.video.load_video`
as the pipeline does, and checks that exactly those frames are reported as cuts.
The photos are scikit-image's public-domain samples.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pytest
import skimage.data
from numpy.typing import NDArray
from PIL import Image

from jikimi.detectors.grade.scenes import (
    SceneCuts,
    SceneRules,
    luma_features,
    rgb_features,
)
from jikimi.errors import ConfigError
from jikimi.media.video import VideoLimits, load_video

Array = NDArray[np.uint8]
W, H = 160, 120


def write_mp4(path: Path, frames: Sequence[Array], fps: int) -> bytes:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return path.read_bytes()


def cuts_in(data: bytes, every_s: float = 0.0, rules: SceneRules | None = None) -> list[int]:
    """Frame numbers the detector calls cuts, decoding one frame every ``every_s``."""
    video = load_video(data, VideoLimits())
    detector = SceneCuts(rules or SceneRules())
    found = []
    for frame in video.frames(every_s):
        features = (
            luma_features(frame.luma.pixels, full_range=frame.luma.full_range)
            if frame.luma is not None
            else rgb_features(frame.rgb)
        )
        if detector.is_cut(frame.t_s, features):
            found.append(frame.number)
    return found


def flat(rgb: tuple[int, int, int]) -> Array:
    return np.full((H, W, 3), rgb, dtype=np.uint8)


def photos() -> list[Array]:
    """Five benign photos, each larger than a frame so that a window can pan over it."""
    grey = skimage.data.camera()
    return [
        np.asarray(skimage.data.astronaut()),
        np.asarray(skimage.data.coffee()),
        np.asarray(skimage.data.chelsea()),
        np.asarray(skimage.data.rocket()),
        np.dstack([grey, grey, grey]),
    ]


def pan(photo: Array, count: int, px_per_frame: int, top: int = 40) -> list[Array]:
    """``count`` frames of a window sliding right over ``photo`` (a camera pan)."""
    return [
        np.ascontiguousarray(photo[top : top + H, i * px_per_frame : i * px_per_frame + W])
        for i in range(count)
    ]


def test_cuts_between_flat_colours_are_found(tmp_path: Path) -> None:
    colours = [(20, 20, 20), (200, 40, 40), (40, 200, 40), (240, 240, 240), (30, 30, 160)]
    frames = [flat(c) for c in colours for _ in range(10)]  # 1 s each at 10 fps
    assert cuts_in(write_mp4(tmp_path / "flat.mp4", frames, fps=10)) == [10, 20, 30, 40]


@pytest.mark.parametrize("px_per_frame", [0, 2, 5], ids=["still", "pan", "fast-pan"])
def test_cuts_between_photos_are_found_and_pans_are_not_cuts(
    tmp_path: Path, px_per_frame: int
) -> None:
    # 30 fps decoded every 6th frame, as the pipeline does; each shot lasts 1.4 s and
    # pans at up to 150 pixels a second (most of a 160-pixel frame)
    frames = [f for photo in photos() for f in pan(photo, 42, px_per_frame)]
    data = write_mp4(tmp_path / "photos.mp4", frames, fps=30)
    assert cuts_in(data, every_s=6.5 / 30) == [42, 84, 126, 168]


def test_a_cut_between_shots_of_the_same_tones_is_found(tmp_path: Path) -> None:
    # a photo and its mirror image have the same histogram: the pixel difference finds it
    photo = photos()[0][40 : 40 + H, 100 : 100 + W]
    mirrored = np.ascontiguousarray(photo[:, ::-1])
    frames = [np.ascontiguousarray(photo)] * 15 + [mirrored] * 15
    data = write_mp4(tmp_path / "mirror.mp4", frames, fps=10)
    assert cuts_in(data) == [15]
    assert cuts_in(data, rules=SceneRules(difference_threshold=1000.0)) == []  # not histogram


def test_a_static_video_has_no_cuts(tmp_path: Path) -> None:
    frames = pan(photos()[0], 60, 0)
    assert cuts_in(write_mp4(tmp_path / "static.mp4", frames, fps=20)) == []


def test_a_short_shot_between_two_long_ones_is_found(tmp_path: Path) -> None:
    # an inserted shot of 0.6 s: the once-a-second sampling could miss it
    astronaut, coffee = photos()[:2]
    frames = pan(astronaut, 25, 1) + pan(coffee, 6, 1) + pan(astronaut, 25, 1, top=60)
    assert cuts_in(write_mp4(tmp_path / "insert.mp4", frames, fps=10)) == [25, 31]


def test_strobes_add_at_most_two_cuts_a_second(tmp_path: Path) -> None:
    frames = [flat((0, 0, 0) if i % 2 else (255, 255, 255)) for i in range(40)]  # 2 s
    found = cuts_in(write_mp4(tmp_path / "strobe.mp4", frames, fps=20))
    assert 2 <= len(found) <= 4
    assert all(b - a >= 10 for a, b in itertools.pairwise(found))  # >= 0.5 s apart


def test_frames_without_a_luma_plane_use_rgb(tmp_path: Path) -> None:
    # an animated GIF decodes to palette frames, graded from RGB
    colours = [(20, 20, 20)] * 8 + [(230, 230, 60)] * 8 + [(60, 60, 230)] * 8
    frames = [flat(c) for c in colours]
    for i, f in enumerate(frames):  # Pillow merges identical frames: mark each one
        f[0, i] = 255
    path = tmp_path / "flat.gif"
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    assert cuts_in(path.read_bytes()) == [8, 16]


def test_video_range_luma_is_stretched_to_full_range() -> None:
    black = np.full((90, 160), 16, dtype=np.uint8)
    white = np.full((90, 160), 235, dtype=np.uint8)
    assert float(luma_features(black, full_range=False).small.mean()) == pytest.approx(0.0)
    assert float(luma_features(white, full_range=False).small.mean()) == pytest.approx(255.0)
    assert float(luma_features(white).small.mean()) == pytest.approx(235.0)
    features = luma_features(np.zeros((5, 7), dtype=np.uint8))  # smaller than the thumbnail
    assert features.small.shape == (16, 16)
    assert float(features.histogram.sum()) == pytest.approx(1.0)


def test_rgb_and_luma_features_agree_on_grey() -> None:
    photo = np.asarray(skimage.data.camera())[:256, :384]
    from_luma = luma_features(photo)
    from_rgb = rgb_features(np.dstack([photo, photo, photo]))
    assert np.abs(from_luma.small - from_rgb.small).max() < 1.0


def test_the_first_frame_is_never_a_cut() -> None:
    detector = SceneCuts()
    assert not detector.is_cut(0.0, luma_features(np.zeros((64, 64), dtype=np.uint8)))


@pytest.mark.parametrize(
    "bad",
    [
        {"histogram_threshold": 0.0},
        {"histogram_threshold": 1.5},
        {"difference_threshold": 0.0},
        {"ratio": 0.5},
        {"history": 0},
        {"min_gap_s": -1.0},
    ],
)
def test_invalid_rules_are_config_errors(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        SceneRules(**bad)

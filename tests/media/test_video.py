"""Tests of video intake: containers, frame selection, the fast decode plan, bad input.

Videos are made per test with PyAV (tiny, a few kB) from synthetic frames whose
every index looks different, so a test can tell which frame it got back; the
ThreatExchange conformance videos (H.264 with B-frames) check the decode plan on
real encoder output.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from jikimi.config import Settings
from jikimi.domain import MediaKind
from jikimi.errors import (
    CorruptMedia,
    EmptyMedia,
    InvalidInput,
    MediaError,
    MediaTooLarge,
    ScanTimeout,
    UnsupportedMedia,
)
from jikimi.media import video as video_module
from jikimi.media.video import Fate, Video, VideoLimits, load_video, plan_packets

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "vpdq"
FPS = 10
COUNT = 30  # 3 s at 10 fps
WIDTH, HEIGHT = 96, 64


def source_frames(count: int = COUNT, width: int = WIDTH, height: int = HEIGHT) -> list[np.ndarray]:
    """Frames that differ visibly from one index to the next (stripes move, colour steps)."""
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        red = ((xx + 3 * i) % 32 < 16) * 200
        green = (yy * (1 + i % 5)) % 255
        blue = np.full_like(xx, (i * 17) % 255)
        frames.append(np.dstack([red, green, blue]).astype(np.uint8))
    return frames


def encode(
    fmt: str,
    codec: str,
    options: dict[str, str] | None = None,
    pix_fmt: str = "yuv420p",
    muxer_options: dict[str, str] | None = None,
    **kw: Any,
) -> bytes:
    """A video of :func:`source_frames` in container ``fmt`` (PyAV muxer name)."""
    frames = source_frames(**kw)
    height, width = frames[0].shape[:2]
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt, options=muxer_options or {}) as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height = width, height
        stream.pix_fmt = "rgb8" if codec == "gif" else pix_fmt
        if options:
            stream.options = options
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode(None))
    return buf.getvalue()


def animated(fmt: str, count: int = COUNT) -> bytes:
    """An animated GIF or WebP (Pillow), 100 ms a frame."""
    images = [Image.fromarray(a) for a in source_frames(count)]
    buf = io.BytesIO()
    images[0].save(
        buf, fmt, save_all=True, append_images=images[1:], duration=100, loop=0, lossless=True
    )
    return buf.getvalue()


def sine_audio(fmt: str, codec: str, sample_format: str) -> bytes:
    """One second of a 440 Hz tone, in a container with no video."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=44100)
        tone = np.sin(2 * np.pi * 440 * np.arange(44100) / 44100) * 0.3
        samples = (tone * 32767).astype(np.int16) if sample_format == "s16" else tone
        frame = av.AudioFrame.from_ndarray(
            samples[None, :].astype(np.int16 if sample_format == "s16" else np.float32),
            format=sample_format,
            layout="mono",
        )
        frame.sample_rate = 44100
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def nearest_source(rgb: np.ndarray, sources: list[np.ndarray]) -> int:
    """Index of the source frame the decoded pixels are closest to."""
    errors = [np.abs(rgb.astype(np.int16) - s.astype(np.int16)).mean() for s in sources]
    return int(np.argmin(errors))


@pytest.fixture(scope="module")
def limits() -> VideoLimits:
    return VideoLimits()


def conformance(name: str) -> bytes:
    path = CONFORMANCE / name
    if not path.exists():
        pytest.skip(f"conformance video not found at {path}")
    return path.read_bytes()


# --- containers ------------------------------------------------------------------

CONTAINERS: list[tuple[str, Callable[[], bytes]]] = [
    ("mp4", lambda: encode("mp4", "libx264")),
    ("mov", lambda: encode("mov", "libx264")),
    ("mkv", lambda: encode("matroska", "libx264", {"bf": "3"})),
    ("webm", lambda: encode("webm", "libvpx-vp9")),
    ("webm", lambda: encode("webm", "libvpx")),
    ("avi", lambda: encode("avi", "mpeg4", {"bf": "2"})),
    ("gif", lambda: encode("gif", "gif")),
    ("gif", lambda: animated("GIF")),
    ("webp", lambda: animated("WEBP")),
]


@pytest.mark.parametrize(
    ("fmt", "make"), CONTAINERS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(CONTAINERS)]
)
def test_each_container_decodes_every_frame_in_order(
    fmt: str, make: Callable[[], bytes], limits: VideoLimits
) -> None:
    video = load_video(make(), limits)
    assert video.media.kind is MediaKind.VIDEO
    assert video.media.format == fmt
    assert (video.media.width, video.media.height) == (WIDTH, HEIGHT)
    assert video.media.frames == COUNT
    assert video.media.duration_s == pytest.approx(COUNT / FPS, abs=0.11)
    assert video.fps == pytest.approx(FPS)
    sources = source_frames()
    frames = list(video.frames(every_s=0))
    assert [f.number for f in frames] == list(range(COUNT))
    assert [nearest_source(f.rgb, sources) for f in frames] == list(range(COUNT))


@pytest.mark.parametrize(("fmt", "make"), CONTAINERS[:1] + CONTAINERS[-1:], ids=["mp4", "webp"])
def test_one_frame_a_second_with_vpdq_timestamps(
    fmt: str, make: Callable[[], bytes], limits: VideoLimits
) -> None:
    video = load_video(make(), limits)
    frames = list(video.frames(every_s=1.0))
    assert [(f.number, f.t_s) for f in frames] == [(0, 0.0), (10, 1.0), (20, 2.0)]
    picture = frames[1].picture
    assert picture.rgb().shape == (HEIGHT, WIDTH, 3)
    assert picture.media == video.media
    assert picture.data == video.data


@pytest.mark.parametrize(
    ("make", "luma_range"),
    [
        (lambda: encode("mp4", "libx264"), "limited"),
        (lambda: encode("mp4", "libx264", pix_fmt="yuvj420p"), "full"),
        (lambda: encode("webm", "libvpx-vp9"), "limited"),
        (lambda: encode("gif", "gif"), None),
        (lambda: animated("WEBP"), None),
    ],
    ids=["h264", "h264-full-range", "vp9", "gif", "webp"],
)
def test_frames_carry_the_luma_plane_of_yuv_video(
    make: Callable[[], bytes], luma_range: str | None, limits: VideoLimits
) -> None:
    frame = next(load_video(make(), limits).frames(1.0))
    if luma_range is None:
        assert frame.luma is None
        return
    assert frame.luma is not None
    assert frame.luma.pixels.shape == (HEIGHT, WIDTH)
    assert frame.luma.full_range is (luma_range == "full")
    # BT.601 luma of the RGB picture, in the range the stream uses.
    luma = frame.rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    expected = luma if luma_range == "full" else 16 + luma * 219 / 255
    assert np.abs(frame.luma.pixels - expected).mean() < 2.0


def test_frame_pixels_are_read_only(limits: VideoLimits) -> None:
    frame = next(load_video(encode("mp4", "libx264"), limits).frames(1.0))
    with pytest.raises(ValueError, match="read-only"):
        frame.rgb[0, 0, 0] = 1


def test_frames_can_be_decoded_twice(limits: VideoLimits) -> None:
    video = load_video(encode("mp4", "libx264"), limits)
    first = [f.rgb for f in video.frames(1.0)]
    second = [f.rgb for f in video.frames(1.0)]
    assert len(first) == len(second) == 3
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_audio_streams_are_ignored(limits: VideoLimits) -> None:
    video = load_video(conformance("pattern-sd-grey-bar.mp4"), limits)  # H.264 + AAC
    assert video.media.frames == 206
    assert video.fps == 30


# --- frame selection ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fps", "every_s", "step"), [(30, 1, 30), (29.97, 1, 29), (10, 0.5, 5), (25, 0, 1), (0.5, 1, 1)]
)
def test_frame_step_is_vpdqs(fps: float, every_s: float, step: int) -> None:
    """``int(seconds_per_hash * fps)``, at least 1 (filehasher.cpp)."""
    video = Video.__new__(Video)
    video.fps = fps
    assert video.frame_step(every_s) == step


def test_negative_interval_is_refused(limits: VideoLimits) -> None:
    video = load_video(encode("mp4", "libx264"), limits)
    with pytest.raises(InvalidInput):
        video.frame_step(-1)


# --- the decode plan -------------------------------------------------------------------


def _frames_both_ways(
    data: bytes, every_s: float, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[tuple[int, np.ndarray]], list[tuple[int, np.ndarray]]]:
    limits = VideoLimits()
    planned = [(f.number, f.rgb) for f in load_video(data, limits).frames(every_s)]
    with monkeypatch.context() as patch:
        patch.setattr(video_module, "plan_packets", lambda *_args: None)
        counted = [(f.number, f.rgb) for f in load_video(data, limits).frames(every_s)]
    return planned, counted


@pytest.mark.parametrize(
    "make",
    [
        lambda: conformance("pattern-sd-grey-bar.mp4"),
        lambda: encode("matroska", "libx264", {"bf": "3", "g": "12"}, count=60),
        lambda: encode("mp4", "mpeg4", {"bf": "2", "g": "8"}, count=60),
        lambda: encode("webm", "libvpx-vp9", {"g": "7"}, count=60),
    ],
    ids=["conformance-h264", "mkv-h264-bframes", "mp4-mpeg4-bframes", "webm-vp9"],
)
@pytest.mark.parametrize("every_s", [1.0, 0.3])
def test_planned_decode_gives_the_frames_of_a_full_decode(
    make: Callable[[], bytes], every_s: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Skipping and dropping packets must not change which frames come out, or a pixel."""
    planned, counted = _frames_both_ways(make(), every_s, monkeypatch)
    assert [n for n, _ in planned] == [n for n, _ in counted]
    assert len(planned) > 1
    for (number, a), (_, b) in zip(planned, counted, strict=True):
        assert np.array_equal(a, b), f"frame {number} differs"


def test_plan_skips_and_drops_packets_of_the_conformance_video() -> None:
    data = conformance("chair-19-sd-bar.mp4")
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        plan = plan_packets(packets, 30, stream.codec_context.name, stream.codec_context.extradata)
    assert plan is not None
    fates = {fate: plan.fates.count(fate) for fate in Fate}
    assert fates[Fate.WANTED] == 19  # 564 frames, one in 30
    assert fates[Fate.DROPPED] > 200  # the second second of each 2-second GOP
    assert fates[Fate.SKIPPABLE] > 200
    assert sorted(plan.numbers.values()) == list(range(564))


def test_no_plan_when_timestamps_repeat() -> None:
    fake = [SimpleNamespace(pts=0, is_discard=False, is_keyframe=True, size=1)] * 2
    assert plan_packets(fake, 1, "h264", None) is None  # type: ignore[arg-type]


def test_nal_parsing_finds_idr_pictures() -> None:
    avcc = b"\x00\x00\x00\x02\x09\xf0" + b"\x00\x00\x00\x03\x65\x88\x84"  # AUD, IDR slice
    assert video_module._nal_types(avcc, "h264", 4) == [9, 5]
    annex_b = b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x41\x9a"  # SPS, non-IDR slice
    assert video_module._nal_types(annex_b, "h264", 0) == [7, 1]
    hevc = b"\x00\x00\x00\x03\x26\x01\xaf"  # IDR_W_RADL
    assert video_module._nal_types(hevc, "hevc", 4) == [19]


# --- bad input ----------------------------------------------------------------------


def test_empty_input(limits: VideoLimits) -> None:
    with pytest.raises(EmptyMedia):
        load_video(b"", limits)


def test_garbage_is_unsupported(limits: VideoLimits) -> None:
    noise = np.random.default_rng(7).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    with pytest.raises(UnsupportedMedia, match="not a recognised video format"):
        load_video(noise, limits)


@pytest.mark.parametrize(
    "prefix",
    [b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01"],
    ids=["mp4", "mkv"],
)
def test_garbage_behind_a_video_header_is_corrupt(prefix: bytes, limits: VideoLimits) -> None:
    noise = np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    with pytest.raises(CorruptMedia):
        load_video(prefix + noise, limits)


def test_truncated_conformance_mp4_keeps_the_frames_before_the_cut(limits: VideoLimits) -> None:
    data = conformance("chair-19-sd-bar.mp4")  # moov first: frames are cut, not the index
    whole = [f.number for f in load_video(data, limits).frames(1.0)]
    cut = load_video(data[: len(data) // 2], limits)
    assert cut.media.truncated
    kept = [f.number for f in cut.frames(1.0)]
    assert 0 < len(kept) < len(whole)
    assert kept == whole[: len(kept)]


@pytest.mark.parametrize(
    "make",
    [
        lambda: encode("mp4", "libx264", muxer_options={"movflags": "frag_keyframe+empty_moov"}),
        lambda: encode("matroska", "libx264"),
        lambda: encode("webm", "libvpx-vp9"),
        lambda: encode("avi", "mpeg4"),
        lambda: encode("gif", "gif"),
    ],
    ids=["mp4", "mkv", "webm", "avi", "gif"],
)
@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_files_keep_their_first_frames(
    make: Callable[[], bytes], keep: float, limits: VideoLimits
) -> None:
    data = make()
    whole = load_video(data, limits)
    assert not whole.media.truncated
    numbers = [f.number for f in whole.frames(0)]
    cut = load_video(data[: int(len(data) * keep)], limits)
    assert cut.media.truncated
    kept = [f.number for f in cut.frames(0)]
    assert kept == numbers[: len(kept)]
    assert 0 < len(kept) < len(numbers) or keep > 0.9  # an AVI's index comes last


def test_truncated_animated_webp_is_corrupt(limits: VideoLimits) -> None:
    """libwebp decodes no frame of a cut file (Pillow has no incremental decoding)."""
    data = animated("WEBP")
    with pytest.raises(CorruptMedia):
        list(load_video(data[: len(data) // 2], limits).frames(0))


def test_mp4_cut_before_its_index_is_corrupt(limits: VideoLimits) -> None:
    data = encode("mp4", "libx264")  # FFmpeg writes the moov box last
    with pytest.raises(CorruptMedia):
        load_video(data[: len(data) // 2], limits)


@pytest.mark.parametrize(
    ("fmt", "codec", "sample_format"),
    [("mp4", "aac", "fltp"), ("matroska", "aac", "fltp"), ("wav", "pcm_s16le", "s16")],
)
def test_audio_only_is_unsupported(
    fmt: str, codec: str, sample_format: str, limits: VideoLimits
) -> None:
    with pytest.raises(UnsupportedMedia, match="sound") as caught:
        load_video(sine_audio(fmt, codec, sample_format), limits)
    assert "no pictures" in caught.value.message or "no video" in caught.value.message


@pytest.mark.parametrize(("fmt", "codec"), [("mp4", "libx264"), ("avi", "mpeg4")])
def test_zero_frame_video_is_corrupt(fmt: str, codec: str, limits: VideoLimits) -> None:
    buf = io.BytesIO()
    container = av.open(buf, "w", format=fmt)
    stream = container.add_stream(codec, rate=FPS)
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    container.start_encoding()  # header and trailer, no frame
    container.close()
    with pytest.raises(CorruptMedia, match=r"no (decodable )?frames"):
        load_video(buf.getvalue(), limits)


def test_still_image_is_not_a_video(limits: VideoLimits) -> None:
    buf = io.BytesIO()
    Image.fromarray(source_frames(1)[0]).save(buf, "PNG")
    with pytest.raises(UnsupportedMedia, match="still image"):
        load_video(buf.getvalue(), limits)


def test_tiny_frames_are_refused(limits: VideoLimits) -> None:
    with pytest.raises(UnsupportedMedia, match="too small"):
        load_video(encode("gif", "gif", width=4, height=4), limits)


# --- limits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ({"max_bytes": 1000}, "bytes"),
        ({"max_duration_s": 2.5}, "2.5 s|3.0 s"),
        ({"max_frames": 20}, "frames"),
        ({"max_pixels": WIDTH * HEIGHT - 1}, "pixels"),
        ({"max_dimension": WIDTH - 1}, "at most"),
    ],
)
@pytest.mark.parametrize("fmt", ["mp4", "webp"])
def test_limits(limit: dict[str, float], message: str, fmt: str) -> None:
    data = encode("mp4", "libx264") if fmt == "mp4" else animated("WEBP")
    with pytest.raises(MediaTooLarge, match=message):
        load_video(data, VideoLimits(**limit))


def test_limits_must_be_positive() -> None:
    with pytest.raises(InvalidInput):
        VideoLimits(max_duration_s=0)


def test_limits_from_settings() -> None:
    defaults = VideoLimits.from_settings(Settings())
    assert defaults.max_bytes == 256 * 1024 * 1024  # videos are larger than images
    assert defaults.max_duration_s == VideoLimits().max_duration_s
    assert defaults.max_pixels == VideoLimits().max_pixels
    custom = Settings(
        max_bytes=10,
        video_max_bytes=99,
        video_max_duration_s=5.0,
        video_decode_timeout_s=2.0,
        video_decode_threads=1,
    )
    limits = VideoLimits.from_settings(custom)
    assert (limits.max_bytes, limits.max_duration_s, limits.decode_timeout_s) == (99, 5.0, 2.0)
    assert limits.max_threads == 1


# --- time budget ------------------------------------------------------------------------


def test_tiny_budget_times_out_while_reading() -> None:
    data = conformance("pattern-sd-grey-bar.mp4")
    with pytest.raises(ScanTimeout):
        load_video(data, VideoLimits(decode_timeout_s=1e-9))


class FakeClock:
    """A ``time.monotonic`` that advances ``tick`` seconds per call, or on request."""

    def __init__(self, tick: float) -> None:
        self.now = 0.0
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def _install_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setattr(video_module.time, "monotonic", clock)


@pytest.mark.parametrize("make", [lambda: encode("mp4", "libx264"), lambda: animated("WEBP")])
def test_slow_decoding_times_out(
    make: Callable[[], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    video = load_video(make(), VideoLimits(decode_timeout_s=5))
    _install_clock(monkeypatch, FakeClock(tick=1.0))  # every check: one more second
    with pytest.raises(ScanTimeout, match="5 s"):
        list(video.frames(every_s=0))


def test_time_holding_a_frame_does_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    video = load_video(encode("mp4", "libx264"), VideoLimits(decode_timeout_s=5))
    clock = FakeClock(tick=0.0)
    _install_clock(monkeypatch, clock)
    seen = 0
    for _frame in video.frames(every_s=0):
        clock.now += 3600.0  # the caller spends an hour on each frame
        seen += 1
    assert seen == COUNT


def test_consumer_may_stop_early(limits: VideoLimits) -> None:
    video = load_video(conformance("doorknob-hd-no-bar.mp4"), limits)
    first = list(itertools.islice(video.frames(0), 3))
    assert [f.number for f in first] == [0, 1, 2]


# --- hostile bytes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: encode("mp4", "libx264"),
        lambda: encode("matroska", "libx264", {"bf": "3"}),
        lambda: encode("webm", "libvpx-vp9"),
        lambda: encode("avi", "mpeg4", {"bf": "2"}),
        lambda: encode("gif", "gif"),
        lambda: animated("WEBP"),
    ],
    ids=["mp4", "mkv", "webm", "avi", "gif", "webp"],
)
def test_damaged_bytes_give_typed_errors_only(
    make: Callable[[], bytes], limits: VideoLimits
) -> None:
    """Random byte changes: the video decodes (FFmpeg conceals damage) or a MediaError.

    Any other exception (a raw traceback for bad input) fails the test.
    """
    data = make()
    rng = np.random.default_rng(len(data))
    for _ in range(12):
        damaged = bytearray(data)
        for index in rng.integers(0, len(data), rng.integers(1, 20)):
            damaged[index] = rng.integers(0, 256)
        try:
            frames = list(load_video(bytes(damaged), limits).frames(every_s=0))
        except MediaError:
            continue
        assert all(f.rgb.ndim == 3 and f.rgb.shape[2] == 3 for f in frames)


def test_an_absurd_frame_rate_is_not_believed(limits: VideoLimits) -> None:
    """An AVI whose stream header claims 10^9 fps (found by bench.fuzz: planning the
    decode over billion-frame intervals took minutes)."""
    data = bytearray(encode("avi", "mpeg4"))
    strh = data.index(b"strh") + 8  # dwScale at +20, dwRate at +24
    data[strh + 20 : strh + 28] = (1).to_bytes(4, "little") + (10**9).to_bytes(4, "little")
    try:
        video = load_video(bytes(data), limits)
    except CorruptMedia:
        return
    assert 0 < video.fps <= video_module.MAX_FPS
    assert [f.number for f in video.frames(1.0)]

"""Videos through the Scanner: Verdicts with vPDQ, grade over time, provenance and routing.

Real encoder output throughout: ThreatExchange's conformance videos (with the
reference vPDQ hash of every frame) and small H.264 videos made here with PyAV
from scikit-image photos. The grade over time is exercised end to end without any
sexual imagery: scikit-image's colour wheel is read by the nudity model as
``BUTTOCKS_EXPOSED`` (an adult grade when a face is beside it, see
``tests/detectors/grade``), so a video
that shows it for three seconds is an adult video, and one that flashes it for a
frame is not.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest
import skimage.data
from numpy.typing import NDArray
from PIL import Image

from jikimi.config import Settings
from jikimi.domain import (
    Action,
    Bank,
    BankKind,
    GradeLabel,
    Match,
    MediaKind,
    Signal,
    SignalKind,
    SyntheticLabel,
    Variant,
    Verdict,
)
from jikimi.matching.bank_index import BankIndex
from jikimi.matching.bank_snapshot import BankSnapshot
from jikimi.media.video import VideoLimits
from jikimi.pipeline import Item, Scanner
from jikimi.pipeline.video import Sampling, VideoOptions, VideoScanner
from jikimi.signals.distance import hamming_hex
from jikimi.signals.vpdq import parse_vpdq

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "vpdq"
SKIMAGE = Path(skimage.__file__).parent / "data"
W, H, FPS = 320, 240, 10

Array = NDArray[np.uint8]


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner.from_settings(Settings())


def conformance(name: str) -> bytes:
    path = CONFORMANCE / name
    if not path.exists():
        pytest.skip(f"conformance video not found at {path}")
    return path.read_bytes()


def fit(path: Path) -> Array:
    return np.asarray(Image.open(path).convert("RGB").resize((W, H)))


def mp4(frames: Sequence[Array], fps: int = FPS) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return buf.getvalue()


@pytest.fixture(scope="module")
def astronaut() -> Array:
    return fit(SKIMAGE / "astronaut.png")


@pytest.fixture(scope="module")
def wheel() -> Array:
    """Not a photo: a colour wheel the nudity model reads as BUTTOCKS_EXPOSED (adult),
    beside the astronaut's face. The face is person context, so the grade's second
    stage keeps the region (alone, the wheel is checked and not graded)."""
    canvas = Image.new("RGB", (W, H))
    with Image.open(SKIMAGE / "color.png") as im:
        canvas.paste(im.convert("RGB").resize((220, H)), (0, 0))
    with Image.open(SKIMAGE / "astronaut.png") as im:
        canvas.paste(im.convert("RGB").crop((140, 20, 340, 220)).resize((100, 100)), (220, 70))
    return np.asarray(canvas)


def segments(v: Verdict) -> list[tuple[float, float, GradeLabel]]:
    assert v.grade is not None and v.grade.segments is not None
    return [(s.start_s, s.end_s, s.label) for s in v.grade.segments]


# --- the conformance videos ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["chair-19-sd-bar.mp4", "doorknob-hd-no-bar.mp4", "pattern-sd-grey-bar.mp4"]
)
def test_conformance_video_verdict(scanner: Scanner, name: str) -> None:
    data = conformance(name)
    v = scanner.scan(data, {"path": name})
    assert v.error is None and v.media is not None
    assert (v.media.kind, v.media.format) == (MediaKind.VIDEO, "mp4")
    assert v.source == {"path": name}
    assert {s.type for s in v.signals or ()} == {SignalKind.VPDQ, SignalKind.MD5, SignalKind.SHA256}

    # the vPDQ hash: the reference's frames, within 10 bits where the picture has detail
    vpdq = v.signal(SignalKind.VPDQ)
    assert vpdq is not None
    ours = parse_vpdq(vpdq.value)
    reference = {
        h.frame: h for h in parse_vpdq((CONFORMANCE / f"{name[:-4]}.vpdq.txt").read_text())
    }
    duration = v.media.duration_s
    assert duration is not None
    assert [h.frame for h in ours] == list(range(0, v.media.frames, 30))  # one a second at 30 fps
    for h in ours:
        ref = reference[h.frame]
        assert round(h.t_s, 3) == round(ref.t_s, 3)
        if ref.quality >= 80:
            assert hamming_hex(h.pdq, ref.pdq) <= 10, (h.frame, h.quality)

    # graded over time: normal throughout, segments covering the whole video
    assert v.grade is not None and v.grade.label is GradeLabel.NORMAL
    assert segments(v) == [(0.0, duration, GradeLabel.NORMAL)]
    assert all(r.t_s is not None and 0 <= r.t_s <= duration for r in v.grade.regions)
    assert v.synthetic is not None and v.synthetic.label is SyntheticLabel.NO_EVIDENCE
    assert v.decision is not None and v.decision.action is Action.ALLOW
    assert v.matches == ()


# --- grade over time, end to end ---------------------------------------------------------


def test_a_sustained_scene_sets_the_grade(scanner: Scanner, astronaut: Array, wheel: Array) -> None:
    frames = [astronaut] * 30 + [wheel] * 30 + [astronaut] * 40  # the wheel from 3 s to 6 s
    v = scanner.scan(mp4(frames))
    assert v.error is None and v.grade is not None and v.media is not None
    assert v.grade.label is GradeLabel.ADULT
    assert segments(v) == [
        (0.0, 3.0, GradeLabel.NORMAL),
        (3.0, 6.0, GradeLabel.ADULT),
        (6.0, 10.0, GradeLabel.NORMAL),
    ]
    adult = [r for r in v.grade.regions if r.label == "BUTTOCKS_EXPOSED"]
    assert adult and all(r.t_s is not None and 3.0 <= r.t_s < 6.0 for r in adult)
    assert v.grade.score == max(r.score for r in adult)
    # boxes in frame pixels
    assert all(
        min(r.box) >= 0 and r.box[0] + r.box[2] <= W and r.box[1] + r.box[3] <= H for r in adult
    )
    # the astronaut's face is found in the other shots, with its time
    faces = [r for r in v.grade.regions if r.label == "FACE_FEMALE"]
    assert {r.t_s for r in faces} >= {0.0, 1.0, 2.0, 6.0, 7.0, 8.0, 9.0}
    assert v.decision is not None and v.decision.action is Action.LABEL


def test_a_one_frame_flash_is_reported_but_does_not_set_the_grade(
    scanner: Scanner, astronaut: Array, wheel: Array
) -> None:
    # one frame at 4.4 s: between two once-a-second samples, found as a scene cut
    frames = [astronaut] * 44 + [wheel] + [astronaut] * 55
    v = scanner.scan(mp4(frames))
    assert v.grade is not None
    assert v.grade.label is GradeLabel.NORMAL
    assert segments(v) == [
        (0.0, 4.4, GradeLabel.NORMAL),
        (4.4, 5.0, GradeLabel.ADULT),
        (5.0, 10.0, GradeLabel.NORMAL),
    ]
    assert v.grade.score < 0.5  # the flash lowers the confidence that the video is clean
    assert v.decision is not None and v.decision.action is Action.ALLOW


def test_stricter_settings_count_every_frame(astronaut: Array, wheel: Array) -> None:
    strict = Scanner.from_settings(Settings(video_sustain_frames=1, video_sustain_window=1))
    v = strict.scan(mp4([astronaut] * 44 + [wheel] + [astronaut] * 55))
    assert v.grade is not None and v.grade.label is GradeLabel.ADULT


def test_without_scene_cuts_a_short_shot_can_be_missed(astronaut: Array, wheel: Array) -> None:
    plain = Scanner.from_settings(Settings(video_scene_cuts=False))
    v = plain.scan(mp4([astronaut] * 44 + [wheel] + [astronaut] * 55))
    assert segments(v) == [(0.0, 10.0, GradeLabel.NORMAL)]


# --- routing and mixed batches ----------------------------------------------------------


def animated_gif(frames: Sequence[Array]) -> bytes:
    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=200, loop=0)
    return buf.getvalue()


def audio_only_mp4() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=44100)
        tone = (np.sin(np.arange(44100) / 10) * 0.3).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
        frame.sample_rate = 44100
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def test_mixed_batch_keeps_order(scanner: Scanner, astronaut: Array) -> None:
    video = conformance("doorknob-hd-no-bar.mp4")
    jpeg = io.BytesIO()
    Image.fromarray(astronaut).save(jpeg, "JPEG")
    coffee = np.asarray(Image.fromarray(np.asarray(skimage.data.coffee())).resize((W, H)))
    items = [
        Item(jpeg.getvalue(), {"n": 0}),
        Item(video, {"n": 1}),
        Item(video[: len(video) // 2], {"n": 2}),  # truncated: scanned as far as it goes
        Item(animated_gif([astronaut, coffee, astronaut]), {"n": 3}),
        Item(audio_only_mp4(), {"n": 4}),
        Item(b"\x00garbage", {"n": 5}),
        Item(animated_gif([coffee]), {"n": 6}),  # one frame: a still image
    ]
    out = scanner.scan_many(items)
    assert [v.source["n"] for v in out] == list(range(7))
    kinds = [(v.media.kind, v.media.format) if v.media else v.error and v.error.code for v in out]
    assert kinds == [
        (MediaKind.IMAGE, "jpeg"),
        (MediaKind.VIDEO, "mp4"),
        (MediaKind.VIDEO, "mp4"),
        (MediaKind.VIDEO, "gif"),
        "unsupported_media",
        "unsupported_media",
        (MediaKind.IMAGE, "gif"),
    ]
    assert out[0].signal(SignalKind.PDQ) is not None and out[0].grade is not None
    assert out[0].grade.segments is None  # images have no segments
    assert out[2].media is not None and out[2].media.truncated
    assert out[1].media is not None and not out[1].media.truncated
    assert out[4].error is not None and "no video stream" in out[4].error.message
    gif = out[3]
    assert gif.signal(SignalKind.VPDQ) is not None and gif.signal(SignalKind.PDQ) is None
    assert segments(gif)[0][0] == 0.0 and gif.media is not None
    assert segments(gif)[-1][1] == pytest.approx(0.6)


def test_provenance_of_videos_and_animations(scanner: Scanner, astronaut: Array) -> None:
    tagged = io.BytesIO()
    with av.open(tagged, "w", format="mp4") as container:
        container.metadata["comment"] = "Generated with Runway Gen-3 Alpha Turbo"
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for _ in range(5):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(astronaut, format="rgb24")))
        container.mux(stream.encode(None))
    infotext = "a walk\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 320x240"
    images = [Image.fromarray(astronaut), Image.fromarray(astronaut[::-1])]
    gif = io.BytesIO()
    images[0].save(
        gif, "GIF", save_all=True, append_images=images[1:], duration=500, comment=infotext
    )
    video, animation = scanner.scan_many([Item(tagged.getvalue(), {}), Item(gif.getvalue(), {})])
    assert video.synthetic is not None and animation.synthetic is not None
    (tag,) = video.synthetic.evidence
    assert "Runway" in tag.detail and tag.strength.value == "moderate"
    (record,) = animation.synthetic.evidence
    assert "AUTOMATIC1111" in record.detail and record.strength.value == "strong"
    for v in (video, animation):
        assert v.decision is not None and v.decision.action is Action.LABEL
        assert any("AI-generation evidence" in r for r in v.decision.reasons)


def test_video_limits_come_from_settings() -> None:
    data = conformance("pattern-sd-grey-bar.mp4")
    short = Scanner.from_settings(Settings(video_max_duration_s=2.0))
    v = short.scan(data)
    assert v.error is not None and v.error.code == "media_too_large"
    hurried = Scanner.from_settings(Settings(video_decode_timeout_s=1e-6))
    v = hurried.scan(data)
    assert v.error is not None and v.error.code == "timeout"
    assert short.max_input_bytes == Settings().video_max_bytes  # videos may be larger


class VideoBank:
    """A matcher that remembers what it was given and matches any vPDQ signal."""

    def __init__(self) -> None:
        self.seen: list[tuple[Signal, ...]] = []
        self.dihedral: list[Sequence[str]] = []

    def match(
        self,
        signals: Sequence[Signal],
        dihedral: Callable[[], Sequence[str]],
        variants: Callable[[], Sequence[object]] = tuple,
    ) -> tuple[Match, ...]:
        self.seen.append(tuple(signals))
        self.dihedral.append(dihedral())
        if any(s.type is SignalKind.VPDQ for s in signals):
            kind = BankKind.TAKEDOWN
            return (
                Match(bank="V", bank_kind=kind, signal=SignalKind.VPDQ, distance=0, entry="ent_v"),
            )
        return ()


def test_matcher_gets_the_vpdq_signal(scanner: Scanner) -> None:
    bank = VideoBank()
    with_bank = scanner.with_matcher(bank)
    assert with_bank.video.options == scanner.video.options  # settings are kept
    v = with_bank.scan(conformance("doorknob-hd-no-bar.mp4"))
    assert v.matches and v.matches[0].signal is SignalKind.VPDQ
    assert v.decision is not None and v.decision.action is Action.REMOVE
    (signals,) = bank.seen
    assert signals == v.signals
    assert bank.dihedral == [()]  # no dihedral variants for videos


def test_progress_is_reported_per_video(scanner: Scanner) -> None:
    calls: list[tuple[Any, int, int]] = []
    data = conformance("chair-19-sd-bar.mp4")
    scanner.scan_many(
        [Item(data, {"path": "chair"})], progress=lambda s, d, t: calls.append((s, d, t))
    )
    assert calls and all(source == {"path": "chair"} for source, _, _ in calls)
    done = [d for _, d, _ in calls]
    assert done == sorted(done) and calls[-1][1:] == (564, 564)


@pytest.mark.parametrize(
    ("fps", "sample_every_s", "scene_cuts", "steps"),
    [
        (30.0, 1.0, True, (30, 30, 6)),
        (25.0, 1.0, True, (25, 25, 5)),
        (24.0, 1.0, True, (24, 24, 4)),
        (29.97, 1.0, True, (29, 29, 1)),  # a prime interval: every frame
        (30.0, 0.5, True, (30, 15, 5)),
        (30.0, 1.0, False, (30, 30, 30)),  # the reference's own decode
        (30.0, 0.5, False, (30, 15, 15)),
        (5.0, 1.0, True, (5, 5, 1)),  # an animated GIF at 200 ms a frame
    ],
)
def test_sampling_decodes_every_hashed_and_graded_frame(
    fps: float, sample_every_s: float, scene_cuts: bool, steps: tuple[int, int, int]
) -> None:
    video: Any = SimpleNamespace(fps=fps, frame_step=lambda every: max(int(every * fps), 1))
    options = VideoOptions(
        limits=VideoLimits(), sample_every_s=sample_every_s, scene_cuts=scene_cuts
    )
    sampling = Sampling.plan(video, options)
    assert (sampling.hash_step, sampling.grade_step, sampling.decode_step) == steps
    assert sampling.hash_step % sampling.decode_step == 0
    assert sampling.grade_step % sampling.decode_step == 0
    every = sampling.every_s(video)
    assert (every == 0.0) if sampling.decode_step == 1 else video.frame_step(every) == steps[2]


def test_importing_the_pipeline_does_not_load_ffmpeg() -> None:
    code = "import sys, jikimi.pipeline; sys.exit('av' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_damaged_videos_frames_out_of_time_order_or_none_are_not_invalid_input(
    scanner: Scanner, astronaut: Array, wheel: Array, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fuzzed files whose timestamps ran backwards, or that opened with no frame to
    decode, were refused as ``invalid_input`` (the caller's fault): the frames are
    graded in time order, and a video with no decodable frame is ``corrupt_media``."""

    data = mp4([astronaut] * 30 + [wheel] * 30 + [astronaut] * 40)
    whole = scanner.scan(data)
    real = VideoScanner._walk

    def backwards(self: VideoScanner, *args: Any, **kwargs: Any) -> Any:
        hashes, graded = real(self, *args, **kwargs)
        return hashes, graded[::-1]

    monkeypatch.setattr(VideoScanner, "_walk", backwards)
    v = scanner.scan(data)
    assert v.error is None and v.grade is not None and whole.grade is not None
    assert segments(v) == segments(whole)

    def nothing(self: VideoScanner, *args: Any, **kwargs: Any) -> Any:
        hashes, _ = real(self, *args, **kwargs)
        return hashes, []

    monkeypatch.setattr(VideoScanner, "_walk", nothing)
    v = scanner.scan(data)
    assert v.error is not None and v.error.code == "corrupt_media"


# --- re-encodes in bars: letterbox, pillarbox (banks with variants) ------------------------


def scenes() -> list[Image.Image]:
    photos = (skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea())
    return [Image.fromarray(p).convert("RGB") for p in photos]


def plain() -> list[Array]:
    return [np.asarray(im.resize((W, H))) for im in scenes() for _ in range(FPS * 2)]


def boxed(size: tuple[int, int]) -> list[Array]:
    """Each scene shrunk to ``size`` in the middle of a black frame (bars)."""
    out = []
    for im in scenes():
        canvas = Image.new("RGB", (W, H))
        canvas.paste(im.resize(size), ((W - size[0]) // 2, (H - size[1]) // 2))
        out.extend([np.asarray(canvas)] * (FPS * 2))
    return out


def video_bank(scanner: Scanner, *, variants: bool) -> BankSnapshot:
    original = scanner.scan(mp4(plain()))
    vpdq = original.signal(SignalKind.VPDQ)
    assert vpdq is not None
    bank = Bank(
        id="bnk_v",
        tenant_id="ten_1",
        name="VIDEOS",
        kind=BankKind.TAKEDOWN,
        variants=variants,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    index = BankIndex(bank)
    index.add(SignalKind.VPDQ, [1], [vpdq.value], ["ent_video"])
    return BankSnapshot.of([index], "ten_1")


@pytest.mark.parametrize("size", [(W, 150), (200, H)], ids=["letterbox", "pillarbox"])
def test_a_boxed_re_encode_matches_through_its_trimmed_frames(
    scanner: Scanner, size: tuple[int, int]
) -> None:
    bank = video_bank(scanner, variants=True)
    verdict = scanner.with_matcher(bank).scan(mp4(boxed(size)))
    [match] = verdict.matches
    assert (match.entry, match.signal, match.via) == ("ent_video", SignalKind.VPDQ, Variant.TRIMMED)
    assert match.query_share is not None and match.query_share >= 0.8


def test_without_variants_a_boxed_re_encode_does_not_match(scanner: Scanner) -> None:
    bank = video_bank(scanner, variants=False)
    assert scanner.with_matcher(bank).scan(mp4(boxed((W, 150)))).matches == ()
    [match] = scanner.with_matcher(bank).scan(mp4(plain())).matches
    assert (match.entry, match.via) == ("ent_video", None)

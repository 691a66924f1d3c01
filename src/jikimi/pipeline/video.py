"""The video half of the pipeline: one decode gives the vPDQ hash and the grade over time.

:class:`~jikimi.pipeline.Scanner` sends here every item that sniffs as a video, and
every animated GIF or WebP; matching, policy and the Verdict stay in
:mod:`jikimi.pipeline`, shared with still images. Per video::

    bytes ─► load_video (limits, container checks, no decode yet)
          ─► frames, decoded once, every `decode_step` frames (about 5 a second):
               ├─ frame n with n % hash_step == 0  ─► vPDQ frame hash (luma plane);
               │                                      inside the bars too, if the
               │                                      first frames have bars
               │                                      (signals.variants.TrimmedFrames)
               ├─ thumbnail ─► scene cut?           (detectors.grade.scenes)
               └─ n % grade_step == 0, or a cut    ─► graded: nudity regions, t_s set
                                                     (batched like still images)
          ─► per-frame grades ─► video grade: worst sustained grade + segments
                                                     (detectors.grade.timeline)
          ─► provenance: C2PA, XMP and tags of the container
             (animated GIF/WebP: the still-image checkers on the file)

Which frames are decoded
    The vPDQ frames (one a second, exactly the reference's) and the graded frames
    (one every ``video_sample_every_s``) must both come out of the one decode, and
    scene cuts need frames in between. ``Video.frames`` decodes one frame every
    ``step`` frames, so the step is the largest divisor of both intervals (in
    frames) that is at most a fifth of a second: 6 at 30 fps, 5 at 25 fps. When
    the frame rate makes the intervals prime (29.97 fps: 29 frames) that divisor
    is 1 and every frame is decoded. Measured scan times (decode, hash, grade),
    scene cuts on vs off: +30% on the 30 fps conformance videos (chair, 18.8 s:
    1.04 s vs 0.80 s), +55% on a 29.97 fps re-encode of chair (2.38 s vs 1.54 s).
    ``video_scene_cuts=false`` decodes only the common interval (the reference's
    cost).

Importing this module does not load FFmpeg: :mod:`jikimi.media.video` is imported
when video options are built (``Scanner.from_settings``) or a video is scanned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from jikimi.config import Settings
from jikimi.detectors.grade import GradeDetector, GradeRules
from jikimi.detectors.grade.scenes import (
    Features,
    SceneCuts,
    SceneRules,
    luma_features,
    rgb_features,
)
from jikimi.detectors.grade.timeline import FrameGrade, Sustain, grade_video
from jikimi.detectors.synthetic import SyntheticDetector
from jikimi.detectors.synthetic.container import ContainerProvenance
from jikimi.domain import Face, Grade, Media, Signal, Synthetic
from jikimi.errors import CorruptMedia
from jikimi.faces.matcher import FaceInput
from jikimi.media.picture import Picture
from jikimi.media.sniff import FileFormat, sniff
from jikimi.signals import Md5Signal
from jikimi.signals.variants import TrimmedFrames, VariantHash
from jikimi.signals.vpdq import DEFAULT_SECONDS_PER_HASH, FrameHash, VideoHash, hash_frame

if TYPE_CHECKING:  # FFmpeg is loaded with the first video, not with the pipeline
    from jikimi.media.video import Video, VideoFrame, VideoLimits

SCENE_EVERY_S: Final = 0.2
"""Scene cuts are looked for between frames at most this far apart (when enabled)."""

ANIMATIONS: Final = frozenset({FileFormat.GIF, FileFormat.WEBP})
"""Image formats whose files with more than one frame are scanned as videos."""


class FrameFaces(Protocol):
    """The face stage (``pipeline.FaceMatcher``), as the video path calls it."""

    def find(self, inputs: Sequence[FaceInput]) -> list[tuple[Face, ...]]: ...


FrameProgress = Callable[[int, int], None]
"""Called as frames are graded: (frames decoded so far, frames in the video)."""


@dataclass(frozen=True, slots=True)
class VideoOptions:
    """How videos are scanned: limits, sampling and the sustain rule (from Settings)."""

    limits: VideoLimits
    sample_every_s: float = 1.0
    scene_cuts: bool = True
    sustain: Sustain = field(default_factory=Sustain)
    scenes: SceneRules = field(default_factory=SceneRules)

    @classmethod
    def from_settings(cls, settings: Settings) -> VideoOptions:
        """Read the ``video_*`` settings (loads PyAV for :class:`VideoLimits`)."""
        from jikimi.media.video import VideoLimits

        return cls(
            limits=VideoLimits.from_settings(settings),
            sample_every_s=settings.video_sample_every_s,
            scene_cuts=settings.video_scene_cuts,
            sustain=Sustain(settings.video_sustain_frames, settings.video_sustain_window),
        )

    @classmethod
    def defaults(cls) -> VideoOptions:
        """Every default (for a Scanner built without settings, e.g. in tests)."""
        from jikimi.media.video import VideoLimits

        return cls(limits=VideoLimits())


@dataclass(frozen=True, slots=True)
class Sampling:
    """Which frames one video's decode yields, and which of them are hashed and graded."""

    hash_step: int
    grade_step: int
    decode_step: int
    scene_cuts: bool

    @classmethod
    def plan(cls, video: Video, options: VideoOptions) -> Sampling:
        """The coarsest decode that still yields every hashed and graded frame (and,
        with scene cuts, a frame at least every fifth of a second)."""
        hash_step = video.frame_step(DEFAULT_SECONDS_PER_HASH)
        grade_step = video.frame_step(options.sample_every_s)
        common = math.gcd(hash_step, grade_step)
        decode_step = common
        if options.scene_cuts:
            most = video.frame_step(SCENE_EVERY_S)
            decode_step = max(d for d in range(1, common + 1) if common % d == 0 and d <= most)
        return cls(hash_step, grade_step, decode_step, options.scene_cuts)

    def every_s(self, video: Video) -> float:
        """The ``every_s`` for which ``video.frames`` steps exactly ``decode_step`` frames."""
        if self.decode_step == 1:
            return 0.0
        every = (self.decode_step + 0.5) / video.fps  # int(every * fps) == decode_step
        return every if video.frame_step(every) == self.decode_step else 0.0


@dataclass(frozen=True, slots=True)
class VideoResult:
    """What the video path concludes; the pipeline adds matches and a decision."""

    media: Media
    signals: tuple[Signal, ...]
    grade: Grade
    synthetic: Synthetic
    sampled: int
    """Frames graded (once a second plus scene cuts)."""
    faces: tuple[Face, ...] = ()
    """Faces in the graded frames (with their ``t_s``), when a face stage was given."""
    variants: tuple[VariantHash, ...] = ()
    """The vPDQ frames cut to the picture inside the video's bars, if it has bars."""


class VideoScanner:
    """Hashes, grades over time and inspects one video at a time."""

    def __init__(
        self,
        options: VideoOptions,
        grade: GradeDetector,
        grade_rules: GradeRules,
        provenance: ContainerProvenance,
        still_synthetic: SyntheticDetector,
    ) -> None:
        self.options = options
        self.grade = grade
        self.grade_rules = grade_rules
        self.provenance = provenance
        self.still_synthetic = still_synthetic

    def scan(
        self,
        data: bytes,
        still: Picture | None = None,
        progress: FrameProgress | None = None,
        *,
        faces: FrameFaces | None = None,
    ) -> VideoResult:
        """Analyse one video. ``still``: the first frame of an animated GIF/WebP, as
        loaded by the still-image loader (it carries the file's metadata).

        Raises typed :class:`~jikimi.errors.JikimiError` s: media errors of
        :func:`~jikimi.media.video.load_video` and decoding, ``ScanTimeout``, and
        the grade model's ``ModelUnavailable``. Anything else it raises is a bug,
        which :class:`~jikimi.pipeline.Scanner` makes this video's ``internal_error``
        Verdict; what ``progress`` raises passes through untouched.
        """
        from jikimi.media.video import load_video

        video = load_video(data, self.options.limits)
        found: list[Face] = []
        trimmed = TrimmedFrames()
        hashes, frames = self._walk(
            video, Sampling.plan(video, self.options), progress, faces, found, trimmed
        )
        variant = trimmed.variant()
        digest = VideoHash(
            frames=tuple(hashes),
            md5=Md5Signal.hash_bytes(data).value,
            sha256=video.media.sha256,  # load_video hashed the bytes
        )
        if not frames:  # the container opened but no frame decoded: no picture
            raise CorruptMedia("The video is truncated or corrupt (no frame could be decoded).")
        # A damaged file's timestamps can run backwards; the grade reads them in order.
        frames = sorted(frames, key=lambda f: f.t_s)
        grade = grade_video(frames, video.media.duration_s or 0.0, self.options.sustain)
        return VideoResult(
            media=video.media,
            signals=digest.signals(),
            grade=grade,
            synthetic=self._synthetic(data, video.media, still),
            sampled=len(frames),
            faces=tuple(found),
            variants=() if variant is None else (variant,),
        )

    def _walk(
        self,
        video: Video,
        sampling: Sampling,
        progress: FrameProgress | None,
        faces: FrameFaces | None = None,
        found: list[Face] | None = None,
        trimmed: TrimmedFrames | None = None,
    ) -> tuple[list[FrameHash], list[FrameGrade]]:
        """One pass over the decoded frames: hash (also inside the bars, into
        ``trimmed``), find cuts, grade in batches."""
        cuts = SceneCuts(self.options.scenes) if sampling.scene_cuts else None
        batch_size = self.grade.batch_size * self.grade.workers
        hashes: list[FrameHash] = []
        graded: list[FrameGrade] = []
        batch: list[VideoFrame] = []
        total = video.media.frames
        for frame in video.frames(sampling.every_s(video)):
            if frame.number % sampling.hash_step == 0:
                hashes.append(hash_frame(frame))
                if trimmed is not None:
                    trimmed.add(frame)
            cut = cuts is not None and cuts.is_cut(frame.t_s, _features(frame))
            if frame.number % sampling.grade_step == 0 or cut:
                batch.append(frame)
            if len(batch) >= batch_size:
                graded.extend(self._grade(batch))
                _faces(batch, faces, found)
                batch = []
                if progress is not None:
                    progress(min(frame.number + 1, total), total)
        graded.extend(self._grade(batch))
        _faces(batch, faces, found)
        if progress is not None:
            progress(total, total)
        return hashes, graded

    def _grade(self, frames: Sequence[VideoFrame]) -> list[FrameGrade]:
        """Grade frames as still images; every region carries its frame's time."""
        if not frames:
            return []
        found = self.grade.detect([f.picture for f in frames])
        graded = []
        for frame, regions in zip(frames, found, strict=True):
            t_s = round(frame.t_s, 3)  # vPDQ's single-precision time, to the millisecond
            timed = [r.model_copy(update={"t_s": t_s}) for r in regions]
            graded.append(FrameGrade(t_s=t_s, grade=self.grade_rules.grade(timed)))
        return graded

    def _synthetic(self, data: bytes, media: Media, still: Picture | None) -> Synthetic:
        if still is not None:  # animated GIF/WebP: metadata lives where stills keep it
            return self.still_synthetic.inspect(still)
        return self.provenance.inspect(data, sniff(data), media)


def _faces(
    frames: Sequence[VideoFrame], faces: FrameFaces | None, found: list[Face] | None
) -> None:
    """Faces of the graded frames (the same sampling as grading), appended to ``found``."""
    if faces is None or found is None or not frames:
        return
    inputs = [FaceInput(f.picture.rgb(), round(f.t_s, 3)) for f in frames]
    for row in faces.find(inputs):
        found.extend(row)


def is_animation(picture: Picture) -> bool:
    """An animated GIF or WebP (more than one frame), scanned as a video."""
    return picture.media.frames > 1 and picture.media.format in ANIMATIONS


def _features(frame: VideoFrame) -> Features:
    if frame.luma is not None:
        return luma_features(frame.luma.pixels, full_range=frame.luma.full_range)
    return rgb_features(frame.rgb)

"""The scan pipeline: bytes → :class:`~jikimi.model.Verdict`. Pure, no database.

::

    bytes ─► sniff ─► media.load ─► Picture ─► signals (PDQ, MD5, SHA-256)
              │                            ─► grade (nudity model, batched)
              │                            ─► synthetic (provenance, metadata, watermark)
              │                            ─► matcher (bank snapshot; optional)
              │                            ─► policy ─► Verdict
              └─► a video, or an animated GIF/WebP ─► pipeline_video:
                    vPDQ + MD5 + SHA-256, grade over time (segments, regions with t_s),
                    container provenance ─► matcher (vPDQ) ─► policy ─► Verdict

Every door (CLI, API, bulk workers) calls :class:`Scanner`; nothing here touches
the network or a database, so the same object runs in the API process, in a
process pool, or in a remote worker. Bad input becomes an error Verdict with a
stable code; it never raises out of :meth:`Scanner.scan_many`, so one bad file
never loses the rest of a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from jikimi.config import Settings
from jikimi.detectors.grade import GradeDetector, GradeRules
from jikimi.detectors.synthetic import SyntheticDetector
from jikimi.detectors.synthetic.container import ContainerProvenance
from jikimi.errors import JikimiError
from jikimi.ids import new_id
from jikimi.media import MediaLimits, Picture, load, sniff
from jikimi.model import (
    BankKind,
    ErrorInfo,
    Grade,
    Match,
    Media,
    MediaKind,
    Region,
    Signal,
    SignalKind,
    Synthetic,
    Verdict,
)
from jikimi.pipeline_video import VideoOptions, VideoScanner, is_animation
from jikimi.policy import Policy, load_rules
from jikimi.signals import Md5Signal, PdqSignal
from jikimi.signals.variants import VariantHash, variant_hashes

log = logging.getLogger(__name__)


class Matcher(Protocol):
    """A snapshot of the banks, as the pipeline sees it (see ``jikimi.matching``)."""

    def match(
        self,
        signals: Sequence[Signal],
        dihedral: Callable[[], Sequence[str]],
        *,
        variants: Callable[[], Sequence[VariantHash]] | None = None,
    ) -> tuple[Match, ...]:
        """Matches for one item; ``dihedral()`` computes the 8 PDQ variants on demand,
        ``variants()`` the PDQ of the image with its frame cut off (re-shared copies)."""
        ...

    def bank_kinds(self) -> Mapping[str, BankKind]: ...


class ScanProgress(Protocol):
    """Told how far a long item (a video) has got; the CLI shows it on its progress bar."""

    def __call__(self, source: Mapping[str, Any], done: int, total: int) -> None:
        """``done`` of ``total`` frames of the item from ``source`` are decoded."""
        ...


@dataclass(frozen=True)
class Item:
    """One thing to scan: its bytes and where it came from (echoed in the Verdict)."""

    data: bytes
    source: Mapping[str, Any]


class Scanner:
    """Composes the capabilities into Verdicts. Build with :meth:`from_settings`."""

    def __init__(
        self,
        limits: MediaLimits,
        grade: GradeDetector,
        grade_rules: GradeRules,
        synthetic: SyntheticDetector,
        policy: Policy,
        matcher: Matcher | None = None,
        *,
        video: VideoOptions | None = None,
        provenance: ContainerProvenance | None = None,
    ) -> None:
        self.limits = limits
        self.grade = grade
        self.grade_rules = grade_rules
        self.synthetic = synthetic
        self.policy = policy
        self.matcher = matcher
        self._video_options = video
        self._provenance = provenance
        self._video: VideoScanner | None = None

    @classmethod
    def from_settings(cls, settings: Settings, matcher: Matcher | None = None) -> Scanner:
        """Build a scanner; models load lazily on the first scan (or :meth:`warm_up`)."""
        rules = load_rules(settings.rules_path)
        return cls(
            limits=MediaLimits.from_settings(settings),
            grade=GradeDetector.from_settings(settings),
            grade_rules=GradeRules.from_dict(rules.grade),
            synthetic=SyntheticDetector.from_settings(settings),
            policy=Policy.from_file(rules),
            matcher=matcher,
            video=VideoOptions.from_settings(settings),
            provenance=ContainerProvenance.from_settings(settings),
        )

    def with_matcher(self, matcher: Matcher | None) -> Scanner:
        """This scanner with another bank snapshot: models, rules and video options shared."""
        twin = Scanner(
            self.limits,
            self.grade,
            self.grade_rules,
            self.synthetic,
            self.policy,
            matcher,
            video=self._video_options,
            provenance=self._provenance,
        )
        twin._video = self._video  # the video path holds no matcher: share it
        return twin

    @property
    def video(self) -> VideoScanner:
        """The video path, sharing this scanner's grade model and rules (built on first use)."""
        if self._video is None:
            self._video = VideoScanner(
                options=self._video_options or VideoOptions.defaults(),
                grade=self.grade,
                grade_rules=self.grade_rules,
                provenance=self._provenance or ContainerProvenance(),
                still_synthetic=self.synthetic,
            )
        return self._video

    @property
    def max_input_bytes(self) -> int:
        """The largest file worth reading: the larger of the image and video limits."""
        return max(self.limits.max_bytes, self.video.options.limits.max_bytes)

    def warm_up(self) -> None:
        """Load models now (worker start-up) rather than on the first request."""
        self.grade.load()

    def scan(self, data: bytes, source: Mapping[str, Any] | None = None) -> Verdict:
        """Scan one item."""
        return self.scan_many([Item(data, source or {})])[0]

    def scan_many(
        self, items: Sequence[Item], progress: ScanProgress | None = None
    ) -> list[Verdict]:
        """Scan items together (the nudity model runs batched); order is kept.

        Videos (and animated GIF/WebP) go through :mod:`jikimi.pipeline_video`, one
        at a time after the still images; ``progress`` hears how far each has got.
        """
        verdicts: list[Verdict | None] = [None] * len(items)
        loaded: list[tuple[int, Picture, tuple[Signal, ...]]] = []
        videos: list[tuple[int, Picture | None]] = []
        for i, item in enumerate(items):
            if sniff(item.data).kind is MediaKind.VIDEO:
                videos.append((i, None))
                continue
            try:
                picture = load(item.data, self.limits)
                if is_animation(picture):
                    videos.append((i, picture))
                    continue
                signals: tuple[Signal, ...] = (
                    PdqSignal.hash_picture(picture),
                    Md5Signal.hash_bytes(item.data),
                    # load() already hashed the bytes for Media.sha256
                    Signal(type=SignalKind.SHA256, value=picture.media.sha256),
                )
            except JikimiError as exc:
                verdicts[i] = error_verdict(item.source, exc.code, exc.message)
                continue
            loaded.append((i, picture, signals))

        regions_per_item = self._detect([p for _, p, _ in loaded])
        for (i, picture, signals), regions in zip(loaded, regions_per_item, strict=True):
            verdicts[i] = self._verdict(items[i], picture, signals, regions)
        for i, still in videos:
            verdicts[i] = self._video_verdict(items[i], still, progress)
        return [v for v in verdicts if v is not None]

    def _video_verdict(
        self, item: Item, still: Picture | None, progress: ScanProgress | None
    ) -> Verdict:
        """Scan one video; any typed error becomes its error Verdict."""

        def frames_done(done: int, total: int) -> None:
            if progress is not None:
                progress(item.source, done, total)

        try:
            result = self.video.scan(item.data, still, frames_done)
        except JikimiError as exc:
            return error_verdict(item.source, exc.code, exc.message)
        # Bank-side video matching compares vPDQ hashes; there are no dihedral variants.
        return self._conclude(
            item, result.media, result.signals, result.grade, result.synthetic, lambda: ()
        )

    def _detect(self, pictures: Sequence[Picture]) -> list[tuple[Region, ...] | JikimiError]:
        """Batched detection; if a batch fails on one bad image, retry one by one."""
        if not pictures:
            return []
        try:
            return list(self.grade.detect(pictures))
        except JikimiError as exc:
            if len(pictures) == 1:  # becomes this item's error Verdict; never escapes
                return [exc]
        out: list[tuple[Region, ...] | JikimiError] = []
        for p in pictures:
            try:
                out.append(self.grade.detect([p])[0])
            except JikimiError as exc:
                out.append(exc)
        return out

    def _verdict(
        self,
        item: Item,
        picture: Picture,
        signals: tuple[Signal, ...],
        regions: tuple[Region, ...] | JikimiError,
    ) -> Verdict:
        if isinstance(regions, JikimiError):
            return error_verdict(item.source, regions.code, regions.message)
        try:
            grade = self.grade_rules.grade(regions)
            synthetic = self.synthetic.inspect(picture)
        except JikimiError as exc:
            return error_verdict(item.source, exc.code, exc.message)
        return self._conclude(
            item,
            picture.media,
            signals,
            grade,
            synthetic,
            lambda: PdqSignal.dihedral_hashes(picture),
            # re-shared copies (issue 15): computed only if a bank with variants is looked up
            lambda: variant_hashes(picture, dihedral=True),
        )

    def _conclude(
        self,
        item: Item,
        media: Media,
        signals: tuple[Signal, ...],
        grade: Grade,
        synthetic: Synthetic,
        dihedral: Callable[[], Sequence[str]],
        variants: Callable[[], Sequence[VariantHash]] | None = None,
    ) -> Verdict:
        """Matches and the decision, for an image or a video alike."""
        try:
            matches: tuple[Match, ...] = ()
            kinds: Mapping[str, BankKind] = {}
            if self.matcher is not None:
                if variants is None:
                    matches = self.matcher.match(signals, dihedral)
                else:
                    matches = self.matcher.match(signals, dihedral, variants=variants)
                kinds = self.matcher.bank_kinds()
            decision = self.policy.decide(grade, synthetic, matches, kinds)
        except JikimiError as exc:
            return error_verdict(item.source, exc.code, exc.message)
        return Verdict(
            id=new_id("scn"),
            source=dict(item.source),
            media=media,
            signals=signals,
            grade=grade,
            synthetic=synthetic,
            matches=matches,
            faces=(),
            decision=decision,
        )


def error_verdict(source: Mapping[str, Any], code: str, message: str) -> Verdict:
    """The Verdict of an item that could not be scanned (same schema, fields null)."""
    return Verdict(
        id=new_id("scn"), source=dict(source), error=ErrorInfo(code=code, message=message)
    )

"""The scan pipeline: bytes → :class:`~jikimi.domain.Verdict`. Pure, no database.

::

    bytes ─► sniff ─► media.load ─► Picture ─► signals (PDQ, MD5, SHA-256)
              │                            ─► grade (nudity model, batched)
              │                            ─► synthetic (provenance, metadata, watermark)
              │                            ─► matcher (bank snapshot; optional)
              │                            ─► faces (enrolled persons; optional)
              │                            ─► policy ─► Verdict
              └─► a video, or an animated GIF/WebP ─► pipeline.video:
                    vPDQ + MD5 + SHA-256, grade over time (segments, regions with t_s),
                    container provenance, faces in the graded frames (t_s)
                    ─► matcher (vPDQ) ─► policy ─► Verdict

The face stage (a :class:`FaceMatcher`, one tenant's enrolled persons) is passed
in like the bank matcher; without one, no face is looked for and
``Verdict.faces`` is empty, so scans for tenants with nobody enrolled do not pay
for it (see ``face_detect`` in the settings and docs/faces.md).

Every door (CLI, API, bulk workers) calls :class:`Scanner`; nothing here touches
the network or a database, so the same object runs in the API process, in a
process pool, or in a remote worker. Bad input becomes an error Verdict with a
stable code; it never raises out of :meth:`Scanner.scan_many`, so one bad file
never loses the rest of a batch.

One item's exception stays that item's
    Every step of an item (sniff, load, hash, grade, inspect, match, decide) runs
    inside a guard: a typed :class:`~jikimi.errors.JikimiError` becomes the error
    Verdict with its code, and any other exception (a bug, a library's own error
    type such as ``cv2.error``) becomes an ``internal_error`` Verdict for that item
    alone, logged once with its traceback. The nudity model runs batched; if a
    batch fails, its pictures are graded again one by one, so only the picture
    that fails on its own gets the error. The one exception that does leave
    :meth:`Scanner.scan_many` is the caller's own: whatever its ``progress``
    callback raises (a scan job stops that way on shutdown).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from jikimi.cases.types import SourceRisk
from jikimi.config import Settings
from jikimi.detectors.grade import GradeDetector, GradeRules
from jikimi.detectors.synthetic import SyntheticDetector
from jikimi.detectors.synthetic.container import ContainerProvenance
from jikimi.domain import (
    ErrorInfo,
    Face,
    Grade,
    Match,
    Media,
    Region,
    Signal,
    Synthetic,
    Verdict,
)
from jikimi.errors import JikimiError
from jikimi.faces.matcher import FaceInput
from jikimi.ids import new_id
from jikimi.media import MediaLimits, Picture
from jikimi.pipeline.hashing import Route, classify, still_signals, still_variants
from jikimi.pipeline.policy import Policy, load_rules
from jikimi.pipeline.video import VideoOptions, VideoScanner
from jikimi.signals import PdqSignal
from jikimi.signals.variants import VariantHash

log = logging.getLogger(__name__)

INTERNAL_ERROR: Final = JikimiError.code
"""Error code of an item whose scan raised something unexpected (a bug, not the input's
fault as far as we know): the item's Verdict carries it, the log has the traceback."""


class Matcher(Protocol):
    """A snapshot of the banks, as the pipeline sees it (``jikimi.matching.BankSnapshot``).

    It answers from memory: no database, no network. Each Match names its bank's
    kind, which is all the policy needs of the banks.
    """

    def match(
        self,
        signals: Sequence[Signal],
        dihedral: Callable[[], Sequence[str]],
        variants: Callable[[], Sequence[VariantHash]],
    ) -> tuple[Match, ...]:
        """Matches for one item; ``dihedral()`` computes the 8 PDQ flips on demand, and
        ``variants()`` the re-share variants (``signals.variants``) likewise."""
        ...


class FaceMatcher(Protocol):
    """One tenant's face stage (see ``jikimi.faces.TenantFaces``)."""

    def find(self, inputs: Sequence[FaceInput]) -> list[tuple[Face, ...]]:
        """The faces of each input, in order, each with its best enrolled person."""
        ...


class ScanProgress(Protocol):
    """Told how far a long item (a video) has got; the CLI shows it on its progress bar."""

    def __call__(self, source: Mapping[str, Any], done: int, total: int) -> None:
        """``done`` of ``total`` frames of the item from ``source`` are decoded."""
        ...


@dataclass(frozen=True)
class Item:
    """One thing to scan: its bytes and where it came from (echoed in the Verdict).

    ``standing``: the risk of the account that posted it, when the caller knows it
    (an uploader id a platform passed); the policy's source conditions read it.
    """

    data: bytes
    source: Mapping[str, Any]
    standing: SourceRisk | None = None


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
        faces: FaceMatcher | None = None,
    ) -> None:
        self.limits = limits
        self.grade = grade
        self.grade_rules = grade_rules
        self.synthetic = synthetic
        self.policy = policy
        self.matcher = matcher
        self.faces = faces
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

    def with_matcher(self, matcher: Matcher | None, faces: FaceMatcher | None = None) -> Scanner:
        """This scanner with another bank snapshot (and face stage): models, rules and
        video options shared."""
        twin = Scanner(
            self.limits,
            self.grade,
            self.grade_rules,
            self.synthetic,
            self.policy,
            matcher,
            video=self._video_options,
            provenance=self._provenance,
            faces=faces,
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

        Videos (and animated GIF/WebP) go through :mod:`jikimi.pipeline.video`, one
        at a time after the still images; ``progress`` hears how far each has got.
        Returns one Verdict per item, always: no item's failure raises (see the
        module docstring), except what ``progress`` itself raises, which propagates.
        """
        verdicts: list[Verdict | None] = [None] * len(items)
        loaded: list[tuple[int, Picture, tuple[Signal, ...]]] = []
        videos: list[tuple[int, Picture | None]] = []
        for i, item in enumerate(items):
            try:
                opened = self._open(item)
            except Exception as exc:
                verdicts[i] = failed_verdict(item.source, exc)
                continue
            if isinstance(opened, _Video):
                videos.append((i, opened.still))
            else:
                loaded.append((i, *opened))

        regions_per_item = self._detect([p for _, p, _ in loaded])
        faces_per_item = self._find_faces([p for _, p, _ in loaded])
        for (i, picture, signals), regions, faces in zip(
            loaded, regions_per_item, faces_per_item, strict=True
        ):
            if isinstance(faces, Exception):
                verdicts[i] = failed_verdict(items[i].source, faces)
                continue
            verdicts[i] = self._verdict(items[i], picture, signals, regions, faces)
        for i, still in videos:
            verdicts[i] = self._video_verdict(items[i], still, progress)
        done = [v for v in verdicts if v is not None]
        assert len(done) == len(items), "every item has its Verdict"
        return done

    def _open(self, item: Item) -> tuple[Picture, tuple[Signal, ...]] | _Video:
        """A still image loaded and hashed, or a video to scan later (raises on bad input)."""
        found = classify(item.data, self.limits)
        if found.route is Route.VIDEO:
            return _Video(found.picture)
        assert found.picture is not None  # the still route always decodes
        return found.picture, still_signals(found.picture, item.data)

    def _video_verdict(
        self, item: Item, still: Picture | None, progress: ScanProgress | None
    ) -> Verdict:
        """Scan one video; any error becomes its error Verdict (but ``progress``'s own
        exceptions propagate: they are the caller's, not the video's)."""

        def frames_done(done: int, total: int) -> None:
            if progress is not None:
                try:
                    progress(item.source, done, total)
                except BaseException as exc:
                    raise _CallerStop(exc) from exc

        try:
            result = self.video.scan(item.data, still, frames_done, faces=self.faces)
        except _CallerStop as stop:
            raise stop.error from None
        except Exception as exc:
            return failed_verdict(item.source, exc)
        # Bank-side video matching compares vPDQ hashes; there are no dihedral variants.
        return self._conclude(
            item,
            result.media,
            result.signals,
            result.grade,
            result.synthetic,
            lambda: (),
            result.faces,
            lambda: result.variants,
        )

    def _find_faces(self, pictures: Sequence[Picture]) -> list[tuple[Face, ...] | Exception]:
        """Faces of every still image (one index search for all), if a face stage is set."""
        if self.faces is None or not pictures:
            return [() for _ in pictures]
        try:
            return list(self.faces.find([FaceInput(p.rgb()) for p in pictures]))
        except Exception as exc:
            if len(pictures) == 1:
                return [exc]
        out: list[tuple[Face, ...] | Exception] = []
        for p in pictures:  # one bad image must not fail the others
            try:
                out.append(self.faces.find([FaceInput(p.rgb())])[0])
            except Exception as exc:
                out.append(exc)
        return out

    def _detect(self, pictures: Sequence[Picture]) -> list[tuple[Region, ...] | Exception]:
        """Batched detection; if a batch fails on one bad image, retry one by one."""
        if not pictures:
            return []
        try:
            found: list[tuple[Region, ...] | Exception] = list(self.grade.detect(pictures))
            if len(found) != len(pictures):
                raise RuntimeError(f"{len(found)} results for {len(pictures)} pictures")
            return found
        except Exception as exc:
            if len(pictures) == 1:  # becomes this item's error Verdict; never escapes
                return [exc]
            log.warning(
                "grading a batch of %d pictures failed (%s); grading them one by one",
                len(pictures),
                type(exc).__name__,
            )
        out: list[tuple[Region, ...] | Exception] = []
        for p in pictures:
            try:
                out.append(self.grade.detect([p])[0])
            except Exception as exc:
                out.append(exc)
        return out

    def _verdict(
        self,
        item: Item,
        picture: Picture,
        signals: tuple[Signal, ...],
        regions: tuple[Region, ...] | Exception,
        faces: tuple[Face, ...] = (),
    ) -> Verdict:
        if isinstance(regions, Exception):
            return failed_verdict(item.source, regions)
        try:
            grade = self.grade_rules.grade(regions)
            synthetic = self.synthetic.inspect(picture)
        except Exception as exc:
            return failed_verdict(item.source, exc)
        return self._conclude(
            item,
            picture.media,
            signals,
            grade,
            synthetic,
            lambda: PdqSignal.dihedral_hashes(picture),
            faces,
            lambda: still_variants(picture),
        )

    def _conclude(
        self,
        item: Item,
        media: Media,
        signals: tuple[Signal, ...],
        grade: Grade,
        synthetic: Synthetic,
        dihedral: Callable[[], Sequence[str]],
        faces: tuple[Face, ...] = (),
        variants: Callable[[], Sequence[VariantHash]] = tuple,
    ) -> Verdict:
        """Matches and the decision, for an image or a video alike."""
        try:
            matches: tuple[Match, ...] = ()
            if self.matcher is not None:
                matches = self.matcher.match(signals, dihedral, variants)
            decision = self.policy.decide(
                grade,
                synthetic,
                matches,
                faces=faces,
                truncated=media.truncated,
                source=item.standing,
            )
            return Verdict(
                id=new_id("scn"),
                source=dict(item.source),
                media=media,
                signals=signals,
                grade=grade,
                synthetic=synthetic,
                matches=matches,
                faces=faces,
                decision=decision,
            )
        except Exception as exc:
            return failed_verdict(item.source, exc)


@dataclass(frozen=True)
class _Video:
    """An item for the video path; ``still``: an animated GIF/WebP's first frame."""

    still: Picture | None


class _CallerStop(BaseException):
    """Carries what a ``progress`` callback raised past the per-item guards."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def error_verdict(source: Mapping[str, Any], code: str, message: str) -> Verdict:
    """The Verdict of an item that could not be scanned (same schema, fields null).

    A message that names a file whose name is not UTF-8 holds lone surrogates,
    which JSON cannot carry; they are written as ``\\udcXX`` escapes instead.
    """
    text = message.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return Verdict(id=new_id("scn"), source=dict(source), error=ErrorInfo(code=code, message=text))


def failed_verdict(source: Mapping[str, Any], exc: Exception) -> Verdict:
    """The error Verdict of an item whose scan raised ``exc``.

    A :class:`~jikimi.errors.JikimiError` carries its own code and message (the
    input's fault, or a model that did not load). Anything else is a bug: it is
    logged here, once, with its traceback, and the Verdict says ``internal_error``
    without the exception's text (which may hold paths or internals).
    """
    if isinstance(exc, JikimiError):
        return error_verdict(source, exc.code, exc.message)
    log.error("scanning %s failed unexpectedly", _describe(source), exc_info=exc)
    return error_verdict(
        source,
        INTERNAL_ERROR,
        f"An unexpected error ({type(exc).__name__}) stopped the scan of this item; "
        "the details are in the log.",
    )


def _describe(source: Mapping[str, Any]) -> str:
    """The item, for a log line: its source, shortened."""
    text = ", ".join(f"{k}={v!r}" for k, v in source.items()) or "an item"
    return text if len(text) <= 200 else text[:199] + "…"

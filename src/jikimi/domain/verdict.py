"""Frozen value types shared by every layer, and the Verdict JSON contract.

These are pydantic models (frozen) so that the same objects serve as the
pipeline's results, the CLI's ``--json`` lines, the API's response schema and
webhook bodies. ``Verdict`` is versioned by its ``schema`` field: fields may be
added, never renamed or removed (see DESIGN.md, "Verdict JSON, version 1").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from jikimi.domain.base import Frozen

VERDICT_SCHEMA = "jikimi.verdict/1"


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


class SignalKind(StrEnum):
    PDQ = "pdq"
    VPDQ = "vpdq"
    MD5 = "md5"
    SHA256 = "sha256"


class GradeLabel(StrEnum):
    """The four grades Korean platforms use, in increasing severity."""

    NORMAL = "normal"
    SUGGESTIVE = "suggestive"
    ADULT = "adult"
    OBSCENE = "obscene"

    @property
    def severity(self) -> int:
        return _GRADE_ORDER.index(self)


_GRADE_ORDER = [GradeLabel.NORMAL, GradeLabel.SUGGESTIVE, GradeLabel.ADULT, GradeLabel.OBSCENE]


class SyntheticLabel(StrEnum):
    """``no_evidence`` never means "real": provenance is easily stripped."""

    EVIDENCE = "evidence"
    NO_EVIDENCE = "no_evidence"


class EvidenceKind(StrEnum):
    """What an evidence item is. All but ``algorithmic_media`` are evidence of AI."""

    C2PA = "c2pa"
    IPTC_SOURCE_TYPE = "iptc_source_type"
    GENERATOR_METADATA = "generator_metadata"
    WATERMARK = "watermark"
    MODEL_SCORE = "model_score"
    ALGORITHMIC_MEDIA = "algorithmic_media"
    """IPTC ``algorithmicMedia`` (C2PA or XMP): made by an algorithm without a trained
    model (procedural renders, fractals). Reported, always weak, but not AI: it
    neither sets the ``evidence`` label nor counts for ``synthetic_at_least`` rules."""

    @property
    def is_ai(self) -> bool:
        """Whether this kind is evidence of AI generation (labels the image)."""
        return self is not EvidenceKind.ALGORITHMIC_MEDIA


class Strength(StrEnum):
    STRONG = "strong"
    MODERATE = "moderate"
    WEAK = "weak"


class Action(StrEnum):
    """What to do with an item, in increasing severity."""

    ALLOW = "allow"
    LABEL = "label"
    HOLD = "hold"
    REMOVE = "remove"

    @property
    def severity(self) -> int:
        return _ACTION_ORDER.index(self)


_ACTION_ORDER = [Action.ALLOW, Action.LABEL, Action.HOLD, Action.REMOVE]


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def severity(self) -> int:
        return _PRIORITY_ORDER.index(self)


_PRIORITY_ORDER = [Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT]


class BankKind(StrEnum):
    """What a match in a bank means (see DESIGN.md, banks)."""

    TAKEDOWN = "takedown"  # known abusive content: remove
    WATCH = "watch"  # suspected content: hold for review
    SUPPRESSION = "suppression"  # known-safe content: overrides classifier-driven holds


class Variant(StrEnum):
    """Which variant of a picture made a match (``Match.via``); ``None``: the picture itself.

    Query side (the upload, see ``signals.variants``): ``trimmed`` (uniform borders
    cut off), ``framed`` (the picture found inside a frame: a caption bar, a
    screenshot's chrome), ``deskewed`` (a tilted picture turned back). Bank side (the
    banked picture, kept with its entry): ``crop6`` and ``crop12`` (its centre, 6 and
    12 % of each side cut off), ``bank_trimmed`` (its own uniform borders cut off).
    """

    TRIMMED = "trimmed"
    FRAMED = "framed"
    DESKEWED = "deskewed"
    CROP6 = "crop6"
    CROP12 = "crop12"
    BANK_TRIMMED = "bank_trimmed"


class Media(Frozen):
    """What was scanned, as decoded (width/height after EXIF orientation)."""

    kind: MediaKind
    format: str
    width: int
    height: int
    frames: int = 1
    duration_s: float | None = None
    bytes: int
    sha256: str
    truncated: bool = Field(
        default=False,
        description="Bytes are missing at the end of the file: what arrived was decoded, "
        "hashed and graded (the byte hashes differ from the whole file's).",
    )
    analysed: str | None = Field(
        default=None,
        description="Still images holding several images or frames (HEIF bursts and "
        "collections, AVIF sequences, multi-page TIFF): which one was analysed, 'primary' "
        "(the HEIF primary image) or 'first'. Absent for single images and videos.",
    )


@dataclass(frozen=True, slots=True)
class FrameHash:
    """The PDQ hash of one video frame: a line of a vPDQ file (see ``jikimi.signals.vpdq``).

    ``frame`` counts from 0 in presentation order; ``t_s`` is ``frame / fps``;
    ``quality`` is PDQ's 0-100 (below 50: "low quality", kept, never dropped).
    A plain dataclass rather than a pydantic model: a video has thousands. It lives
    here, with the other value types, because the store keeps frames too.
    """

    frame: int
    t_s: float
    quality: int
    pdq: str

    def line(self) -> str:
        """This hash as a vPDQ line, without the newline."""
        return f"{self.frame},{self.quality},{self.pdq},{self.t_s:.3f}"


class Signal(Frozen):
    """One hash of the media. ``quality`` is set for perceptual hashes only."""

    type: SignalKind
    value: str
    quality: int | None = None


class Region(Frozen):
    """A detector box in original-image pixels: ``[x, y, w, h]``."""

    label: str
    score: float
    box: tuple[int, int, int, int]
    t_s: float | None = None
    context_score: float | None = Field(
        default=None,
        description=(
            "Exposed body parts with no face or other body part in the picture only: "
            "the second-stage classifier's P(nsfw) for the picture and a square around "
            "the region (the higher); the grade table decides whether the region counts. "
            "Null when not checked."
        ),
    )


class Segment(Frozen):
    """A stretch of a video with one grade (``end_s`` exclusive)."""

    start_s: float
    end_s: float
    label: GradeLabel


class Grade(Frozen):
    label: GradeLabel
    score: float = Field(description="Confidence of the region that set the label (1.0 if none).")
    regions: tuple[Region, ...] = ()
    segments: tuple[Segment, ...] | None = Field(
        default=None, description="Videos only: graded stretches over time."
    )


class Evidence(Frozen):
    kind: EvidenceKind
    strength: Strength
    detail: str


class Synthetic(Frozen):
    label: SyntheticLabel
    evidence: tuple[Evidence, ...] = ()

    @classmethod
    def from_evidence(cls, evidence: list[Evidence] | tuple[Evidence, ...]) -> Synthetic:
        ai = any(e.kind.is_ai for e in evidence)
        label = SyntheticLabel.EVIDENCE if ai else SyntheticLabel.NO_EVIDENCE
        return cls(label=label, evidence=tuple(evidence))


class Match(Frozen):
    bank: str = Field(
        description="The bank's name (a bank shared with the caller whose name clashes "
        "with another visible bank's: its id)."
    )
    bank_id: str | None = Field(default=None, description="The bank's id.")
    bank_kind: BankKind | None = Field(
        default=None, description="What a match in this bank means (takedown, watch, ...)."
    )
    signal: SignalKind
    distance: int = Field(description="Bits between the hashes (videos: the closest frame pair).")
    entry: str
    query_share: float | None = Field(
        default=None,
        description="Videos only: share of the scanned video's frames (quality >= 50) that "
        "match a frame of the banked video.",
    )
    index_share: float | None = Field(
        default=None,
        description="Videos only: share of the banked video's frames matched by the scanned one.",
    )
    via: Variant | None = Field(
        default=None,
        description="Which variant made the match, in banks with variants on: a variant of "
        "the upload (trimmed, framed, deskewed) or of the banked picture (crop6, crop12, "
        "bank_trimmed); null: the upload's own hashes against the entry's own hash.",
    )


class Face(Frozen):
    """A face found in the media, and the registered person it matches, if any.

    Never carries a template (embedding): only where the face is, how sure the
    detector was, and the best similarity to the scanning tenant's enrolled persons.
    """

    box: tuple[int, int, int, int] = Field(description="[x, y, w, h] in original pixels.")
    score: float = Field(description="Face detector confidence, 0-1.")
    person: str | None = Field(
        default=None,
        description="The enrolled person (per_…) whose templates it matches at or above "
        "the face threshold; null: nobody.",
    )
    similarity: float | None = Field(
        default=None,
        description="Cosine similarity to the best-matching enrolled template (null when "
        "nobody is enrolled).",
    )
    t_s: float | None = Field(default=None, description="Videos: the frame's time, seconds.")


class Decision(Frozen):
    action: Action
    priority: Priority
    reasons: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    """The names of the rules that fired (an addition to Verdict v1)."""


class ErrorInfo(Frozen):
    code: str
    message: str


class Verdict(Frozen):
    """Everything jikimi concluded about one item: the public contract."""

    schema_: str = Field(default=VERDICT_SCHEMA, alias="schema")
    id: str
    source: dict[str, Any] = Field(default_factory=dict)
    media: Media | None = None
    signals: tuple[Signal, ...] | None = None
    grade: Grade | None = None
    synthetic: Synthetic | None = None
    matches: tuple[Match, ...] | None = None
    faces: tuple[Face, ...] | None = None
    decision: Decision | None = None
    error: ErrorInfo | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON object of the contract (``schema`` key, enums as strings)."""
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    def signal(self, kind: SignalKind) -> Signal | None:
        for s in self.signals or ():
            if s.type == kind:
                return s
        return None

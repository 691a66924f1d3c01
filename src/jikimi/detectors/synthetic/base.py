"""What every synthetic-media checker shares: the interface and the IPTC vocabulary.

A *checker* looks for one kind of named evidence that an image was made or
altered by an AI model (a C2PA assertion, an IPTC DigitalSourceType, generator
metadata, an invisible watermark). Checkers are small classes behind
:class:`Checker`, registered explicitly in :mod:`jikimi.detectors.synthetic`
by their stable :meth:`Checker.get_name`.

The IPTC "Digital Source Type" vocabulary lives here because both provenance
formats speak it: C2PA actions carry it as ``digitalSourceType`` and XMP as
``Iptc4xmpExt:DigitalSourceType``. One parser means both agree on what counts.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from enum import StrEnum
from typing import Self

from jikimi.config import Settings
from jikimi.domain import Evidence, Strength
from jikimi.media.picture import Picture


class Checker(ABC):
    """One kind of AI-generation evidence.

    ``check`` returns the evidence it found (usually zero or one item). It may
    raise on input it cannot handle; :class:`~jikimi.detectors.synthetic.SyntheticDetector`
    contains the failure so that one broken manifest or packet never fails a scan.
    Expected malformations (bad XML, broken manifests) should be handled inside
    the checker and yield no evidence.
    """

    @classmethod
    @abstractmethod
    def get_name(cls) -> str:
        """Stable, unique name (logs, registration)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """Build the checker; the default needs no settings."""
        del settings
        return cls()

    @abstractmethod
    def check(self, picture: Picture) -> tuple[Evidence, ...]:
        """Evidence found in ``picture``; empty when there is none."""


class SourceType(StrEnum):
    """IPTC Digital Source Type codes that mean "made by an algorithm".

    https://cv.iptc.org/newscodes/digitalsourcetype/ . Only these three are
    evidence; the others (``digitalCapture``, ``digitalCreation``,
    ``compositeSynthetic`` ...) describe cameras or human-made artwork.
    """

    TRAINED = "trainedAlgorithmicMedia"
    COMPOSITE_TRAINED = "compositeWithTrainedAlgorithmicMedia"
    ALGORITHMIC = "algorithmicMedia"

    @property
    def meaning(self) -> str:
        """A short human gloss for evidence sentences."""
        return _MEANINGS[self]

    def strength(self, declared: Strength) -> Strength:
        """The strength a declaration of this type carries.

        ``algorithmicMedia`` (pure algorithm, no trained model: fractals,
        procedural renders) is not AI generation in the deepfake sense, so it is
        always weak; the two "trained" types carry the declaration's strength.
        """
        return Strength.WEAK if self is SourceType.ALGORITHMIC else declared


_MEANINGS = {
    SourceType.TRAINED: "made by a trained AI model",
    SourceType.COMPOSITE_TRAINED: "contains elements made by a trained AI model",
    SourceType.ALGORITHMIC: "made by an algorithm without a trained model",
}

_BY_LOWER = {t.value.lower(): t for t in SourceType}

# Full URIs (http or https, optional trailing slash), the IPTC QCode form
# (``digsrctype:code``) and the bare code are all seen in the wild.
_SOURCE_TYPE_RE = re.compile(
    r"^(?:https?://cv\.iptc\.org/newscodes/digitalsourcetype/|digsrctype:)?([A-Za-z]+)/?$"
)


def parse_source_type(value: str) -> SourceType | None:
    """The AI-related IPTC source type named by ``value``, or None.

    >>> parse_source_type("http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia")
    <SourceType.TRAINED: 'trainedAlgorithmicMedia'>
    >>> parse_source_type("compositeWithTrainedAlgorithmicMedia")
    <SourceType.COMPOSITE_TRAINED: 'compositeWithTrainedAlgorithmicMedia'>
    >>> parse_source_type("http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture") is None
    True
    """
    match = _SOURCE_TYPE_RE.match(value.strip())
    if match is None:
        return None
    return _BY_LOWER.get(match.group(1).lower())


def clean_text(value: str, limit: int = 80) -> str:
    """``value`` made safe to quote in an evidence sentence.

    Metadata is attacker-controlled: control characters are dropped, whitespace
    collapsed, and the length capped so that a hostile file cannot flood a
    reviewer's screen or a log line.

    >>> clean_text("Stable\\x00 Diffusion\\n  XL")
    'Stable Diffusion XL'
    """
    value = value[: limit * 4]  # enough to fill ``limit`` after collapsing; bounds the work
    printable = "".join(ch if ch.isprintable() else " " for ch in value)
    collapsed = " ".join(printable.split())
    if len(collapsed) > limit:
        return collapsed[: limit - 1] + "…"
    return collapsed

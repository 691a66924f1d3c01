"""Synthetic media: named evidence that an image was made or altered by AI.

Each kind of evidence has its own checker behind one interface
(:class:`~jikimi.detectors.synthetic.base.Checker`), registered in
:data:`CHECKERS` by a unique name:

::

    Picture ─► c2pa               signed C2PA assertion        strong / moderate
            ─► xmp_source_type    IPTC DigitalSourceType        strong / moderate / weak
            ─► generator_metadata generation record, tool name  strong / moderate
            ─► stealth_metadata   record in the pixels' low bits strong / moderate
            ─► watermark          SD invisible watermark        weak
            ─► Synthetic(label, evidence)

The detector only reports what it finds; it never claims an image is real.
``no_evidence`` means no checker found anything, and provenance is easy to
strip. A checker that fails on a hostile or broken file (malformed XMP, a
broken manifest, a decoder error) is logged and contributes nothing: one bad
field must never cost the whole scan, and a "could not read" note is not
evidence of AI generation (any evidence item labels the image). See
``docs/synthetic.md`` for what each evidence means and its limits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from jikimi.config import Settings
from jikimi.detectors.synthetic.base import Checker
from jikimi.detectors.synthetic.c2pa import C2paChecker
from jikimi.detectors.synthetic.generators import GeneratorMetadataChecker
from jikimi.detectors.synthetic.stealth import StealthMetadataChecker
from jikimi.detectors.synthetic.watermark import WatermarkChecker
from jikimi.detectors.synthetic.xmp import XmpSourceTypeChecker
from jikimi.domain import Evidence, Synthetic
from jikimi.errors import ConfigError
from jikimi.media.picture import Picture

__all__ = ["CHECKERS", "Checker", "SyntheticDetector"]

log = logging.getLogger(__name__)

CHECKERS: Final[tuple[type[Checker], ...]] = (
    C2paChecker,
    XmpSourceTypeChecker,
    GeneratorMetadataChecker,
    StealthMetadataChecker,
    WatermarkChecker,
)
"""Every checker, in the order their evidence is listed (strongest kinds first)."""


class SyntheticDetector:
    """Runs every checker on a picture and collects their evidence."""

    def __init__(self, checkers: Sequence[Checker]) -> None:
        names = [c.get_name() for c in checkers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"synthetic checkers registered twice: {', '.join(duplicates)}")
        self.checkers = tuple(checkers)

    @classmethod
    def from_settings(cls, settings: Settings) -> SyntheticDetector:
        """Every registered checker; nothing is loaded until the first picture."""
        return cls([checker.from_settings(settings) for checker in CHECKERS])

    def inspect(self, picture: Picture) -> Synthetic:
        """The evidence all checkers found; never raises for a bad file."""
        evidence: list[Evidence] = []
        for checker in self.checkers:
            evidence.extend(self._run(checker, picture))
        return Synthetic.from_evidence(evidence)

    @staticmethod
    def _run(checker: Checker, picture: Picture) -> tuple[Evidence, ...]:
        try:
            return checker.check(picture)
        except Exception:
            # Contain any failure, expected or not: the other checkers' evidence
            # and the rest of the scan (hashes, grade, matches) still count.
            log.warning(
                "synthetic checker %r failed on a %s; it contributes no evidence",
                checker.get_name(),
                picture.mime,
                exc_info=True,
            )
            return ()

"""A tenant's face stage, as the pipeline calls it: find faces, search her persons.

:class:`TenantFaces` joins the process-wide :class:`~jikimi.faces.FaceEngine`
(models, shared by every tenant) with one tenant's :class:`~jikimi.faces.FaceIndex`
(an immutable snapshot of her enrolled templates). The pipeline hands it every
still image and sampled video frame of a scan together, so one matrix product
searches all their faces; it returns typed :class:`~jikimi.domain.Face` values,
never a template.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jikimi.domain import Face
from jikimi.faces.engine import FaceEngine, FoundFace, Pixels
from jikimi.faces.index import FaceIndex


class FaceInput(NamedTuple):
    """Pixels to look at (RGB) and, for a video frame, its time."""

    rgb: Pixels
    t_s: float | None = None


class TenantFaces:
    """Faces and matches for one tenant (``index`` None: report faces, match nobody).

    ``keep``: remember each reported face's template (in memory, for the scan that
    is being stored: retroactive matching keeps it sealed), readable through
    :meth:`template_of` with the very :class:`Face` value it was reported as.
    """

    def __init__(
        self, engine: FaceEngine, index: FaceIndex | None, threshold: float, *, keep: bool = False
    ) -> None:
        self.engine = engine
        self.index = index
        self.threshold = threshold
        self.keep = keep
        self._kept: dict[int, tuple[Face, np.ndarray[tuple[int], np.dtype[np.float32]]]] = {}

    def template_of(self, face: Face) -> np.ndarray[tuple[int], np.dtype[np.float32]] | None:
        """The template of a face this stage reported (``keep`` only), else None."""
        entry = self._kept.get(id(face))
        return entry[1] if entry is not None and entry[0] is face else None

    def forget(self) -> None:
        """Drop the remembered templates (once the scan is stored)."""
        self._kept.clear()

    def find(self, inputs: Sequence[FaceInput]) -> list[tuple[Face, ...]]:
        """The faces of each input, in order, with their best registered person."""
        found: list[list[FoundFace]] = []
        blocks = []
        for item in inputs:
            faces = self.engine.detect(item.rgb)
            found.append(faces)
            blocks.append(self.engine.templates(item.rgb, faces))
        if self.index is not None and any(len(f) for f in found):
            hits = iter(self.index.search(np.concatenate(blocks), self.threshold))
        else:
            hits = None
        out: list[tuple[Face, ...]] = []
        for item, faces in zip(inputs, found, strict=True):
            row = []
            for f in faces:
                hit = next(hits) if hits is not None else None
                face = Face(
                    box=f.box,
                    score=round(f.score, 4),
                    person=hit.person if hit is not None else None,
                    similarity=hit.similarity if hit is not None else None,
                    t_s=item.t_s,
                )
                row.append(face)
            out.append(tuple(row))
        if self.keep:
            for row_faces, block in zip(out, blocks, strict=True):
                for face, template in zip(row_faces, block, strict=True):
                    self._kept[id(face)] = (face, template)
        return out

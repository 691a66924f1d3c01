"""Encryption at rest: the one AES-256-GCM sealer every sealed thing uses.

:class:`Aead` seals evidence bytes (:mod:`jikimi.evidence.sealing`), face templates
(:mod:`jikimi.faces.crypto`) and anything sealed later; each caller keeps its own
framing (a magic prefix or none) and its own associated data, so the blobs and rows
already written open as before.
"""

from __future__ import annotations

from jikimi.crypto.aead import NONCE_BYTES, TAG_BYTES, Aead, SealOpenError

__all__ = ["NONCE_BYTES", "TAG_BYTES", "Aead", "SealOpenError"]

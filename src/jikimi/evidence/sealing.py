"""Evidence bytes encrypted at rest (AES-256-GCM, :class:`jikimi.crypto.Aead`).

A sealed blob is ``b"JKE1" + nonce (12 bytes) + ciphertext-and-tag``. The
associated data binds each blob to the digest of its plaintext, so a sealed blob
moved to another name fails to open rather than passing as other evidence.
"""

from __future__ import annotations

from jikimi.crypto import Aead, SealOpenError
from jikimi.errors import JikimiError

MAGIC = b"JKE1"


class SealBroken(JikimiError):
    """A sealed blob does not open: wrong key, or changed on disk."""

    code = "evidence_tampered"


class Sealer:
    """Encrypts and decrypts evidence with one 32-byte key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("an evidence key is 32 bytes")
        self._aead = Aead(key, magic=MAGIC)

    def seal(self, plaintext: bytes, digest: str) -> bytes:
        return self._aead.seal(plaintext, digest.encode())

    def open(self, sealed: bytes, digest: str) -> bytes:
        if not sealed.startswith(MAGIC) or len(sealed) < len(MAGIC) + 12 + 16:
            raise SealBroken("not a sealed evidence blob")
        try:
            return self._aead.open(sealed, digest.encode())
        except SealOpenError as exc:
            raise SealBroken("the evidence blob was altered, or the key is wrong") from exc

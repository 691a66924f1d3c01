"""Evidence bytes encrypted at rest (AES-256-GCM, :class:`jikimi.crypto.Aead`).

A sealed blob is ``b"JKE1" + nonce (12 bytes) + ciphertext-and-tag``. The
associated data binds each blob to the digest of its plaintext, so a sealed blob
moved to another name fails to open rather than passing as other evidence.
"""

from __future__ import annotations

import hashlib
import hmac

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
        # a separate key for MACs, derived so that a MAC never reveals the AES key
        self._mac_key = hmac.new(key, b"jikimi mac key v1", hashlib.sha256).digest()

    def mac(self, label: str, data: bytes) -> str:
        """HMAC-SHA256 (hex) of ``data`` under this instance's key, bound to ``label``.

        For secrets that are short and must still be checked without being stored:
        without the key file a leaked database gives nothing to brute-force.
        """
        return hmac.new(self._mac_key, label.encode() + b"\0" + data, hashlib.sha256).hexdigest()

    def seal(self, plaintext: bytes, digest: str) -> bytes:
        return self._aead.seal(plaintext, digest.encode())

    def open(self, sealed: bytes, digest: str) -> bytes:
        if not sealed.startswith(MAGIC) or len(sealed) < len(MAGIC) + 12 + 16:
            raise SealBroken("not a sealed evidence blob")
        try:
            return self._aead.open(sealed, digest.encode())
        except SealOpenError as exc:
            raise SealBroken("the evidence blob was altered, or the key is wrong") from exc

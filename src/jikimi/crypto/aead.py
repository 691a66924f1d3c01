"""AES-256-GCM with a random nonce per message, bound to associated data.

A sealed message is ``magic ‖ nonce (12 random bytes) ‖ ciphertext ‖ tag (16
bytes)``; ``magic`` is the caller's format marker (evidence blobs start with
``JKE1``; face templates have none). The associated data is the caller's binding
of the message to where it belongs (its digest, its tenant and person), so a
message moved elsewhere fails to open instead of passing as something else.
"""

from __future__ import annotations

import hashlib
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
KEY_BYTES: Final = 32


class SealOpenError(Exception):
    """A sealed message does not open: not this format, wrong key, or changed.

    Callers turn it into their own typed error (the evidence's ``evidence_tampered``,
    a template's key error), which says what was being opened.
    """


class Aead:
    """Seals and opens messages with one 32-byte key."""

    def __init__(self, key: bytes, *, magic: bytes = b"") -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"an AES-256-GCM key is {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self._magic = magic
        self.key_id = hashlib.sha256(key).hexdigest()[:16]
        """First 16 hex digits of the key's SHA-256: names the key, never reveals it."""

    def __repr__(self) -> str:  # never show the key
        return f"Aead(key_id={self.key_id!r})"

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return self._magic + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        head = len(self._magic)
        if not sealed.startswith(self._magic) or len(sealed) < head + NONCE_BYTES + TAG_BYTES:
            raise SealOpenError("not a sealed message of this format")
        nonce = sealed[head : head + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[head + NONCE_BYTES :], aad)
        except InvalidTag:
            raise SealOpenError("the message was altered, or the key is wrong") from None

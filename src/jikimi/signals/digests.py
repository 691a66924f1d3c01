"""MD5 and SHA-256 of the original bytes: exact-copy signals.

Why both: hash lists shared between platforms, hotlines and regulators (NCMEC,
StopNCII partners, national takedown lists) still carry MD5 for exact copies, and
SHA-256 is what jikimi itself uses to name content (blob store paths, ``Media.sha256``).
Both are taken over the bytes exactly as received, never over decoded pixels, so they
match only byte-identical files; perceptual matching is PDQ's job.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

from jikimi.domain import Signal, SignalKind
from jikimi.signals.base import BytesHasher, FixedHex


class _Digest(FixedHex, BytesHasher):
    """A cryptographic digest of the file bytes (exact match only, no distance)."""

    KIND: ClassVar[SignalKind]
    ALGORITHM: ClassVar[str]
    """A :func:`hashlib.new` name."""

    @classmethod
    def get_name(cls) -> SignalKind:
        return cls.KIND

    @classmethod
    def hash_bytes(cls, data: bytes) -> Signal:
        # Not a security use: without the flag, FIPS-mode OpenSSL refuses MD5.
        digest = hashlib.new(cls.ALGORITHM, data, usedforsecurity=False)
        return Signal(type=cls.KIND, value=digest.hexdigest())


class Md5Signal(_Digest):
    """MD5 of the file bytes (32 hex digits), for exchanging exact-copy lists."""

    KIND = SignalKind.MD5
    HEX_LENGTH = 32
    ALGORITHM = "md5"


class Sha256Signal(_Digest):
    """SHA-256 of the file bytes (64 hex digits), jikimi's content address."""

    KIND = SignalKind.SHA256
    HEX_LENGTH = 64
    ALGORITHM = "sha256"

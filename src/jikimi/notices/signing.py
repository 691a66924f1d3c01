"""Signed JSON for hosts' takedown APIs: HMAC-SHA256 over a timestamp and the body.

The request carries ``X-Jikimi-Timestamp`` (Unix seconds) and
``X-Jikimi-Signature: sha256=<hex>`` where the hex is
``HMAC-SHA256(secret, "<timestamp>." + body)``. A receiver recomputes it, compares
in constant time, and refuses timestamps older than its tolerance (replay). The
``Idempotency-Key`` header lets it drop a repeat of a delivery it already took.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP = "X-Jikimi-Timestamp"
SIGNATURE = "X-Jikimi-Signature"
IDEMPOTENCY = "Idempotency-Key"
TOLERANCE_S = 300


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float,
    tolerance_s: int = TOLERANCE_S,
) -> bool:
    """Is this a fresh request signed with ``secret``?"""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)

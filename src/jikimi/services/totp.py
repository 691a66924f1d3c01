"""Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP), SHA-1, 6 digits, 30 s.

The parameters every authenticator app uses by default; small enough to keep here
rather than add a dependency. ``verify`` accepts the code of the step before and after
the current one (a phone clock a few seconds off, a code typed as it changes).

>>> totp_at(b"12345678901234567890", 59, digits=8)  # RFC 6238, appendix B
'94287082'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote

STEP_S = 30
DIGITS = 6


def new_secret() -> str:
    """A fresh 160-bit secret, base32 (what authenticator apps take)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret_b32: str) -> bytes:
    padded = secret_b32.upper() + "=" * (-len(secret_b32) % 8)
    return base64.b32decode(padded)


def totp_at(key: bytes, unix_s: float, *, digits: int = DIGITS) -> str:
    counter = int(unix_s // STEP_S)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return f"{code:0{digits}d}"


def code_now(secret_b32: str, unix_s: float | None = None) -> str:
    """The current code for ``secret_b32`` (tests and the enrolment page's check)."""
    return totp_at(_key(secret_b32), time.time() if unix_s is None else unix_s)


def matched_step(secret_b32: str, code: str, unix_s: float | None = None) -> int | None:
    """The time step (``unix_s // STEP_S``) whose code ``code`` is, among this one and one
    either side, or ``None``; each candidate is compared in constant time.

    The caller refuses a step at or before the last one it accepted for the account,
    so a code seen over her shoulder (or replayed from a log) cannot be used again.
    """
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now_step = int((time.time() if unix_s is None else unix_s) // STEP_S)
    key = _key(secret_b32)
    found = None
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp_at(key, step * STEP_S), code):
            found = step
    return found


def verify(secret_b32: str, code: str, unix_s: float | None = None) -> bool:
    """``code`` is the code of this step or one step either side (no replay check)."""
    return matched_step(secret_b32, code, unix_s) is not None


def uri(secret_b32: str, account: str, issuer: str = "jikimi") -> str:
    """The ``otpauth://`` URI an authenticator app reads (typed in or from a QR code)."""
    label = quote(f"{issuer}:{account}")
    return f"otpauth://totp/{label}?secret={secret_b32}&issuer={quote(issuer)}"

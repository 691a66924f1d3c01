"""Prefixed, time-ordered identifiers (``scn_01J…``), ULIDs in Crockford base32.

Time-ordered so that database indexes on ids stay append-mostly and a listing by
id is a listing by creation time; prefixed so that a pasted id says what it is.
"""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now_ms: int | None = None) -> str:
    """A 26-character ULID: 48 bits of milliseconds then 80 random bits."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """``prefix`` + ``_`` + ULID, e.g. ``new_id("scn")`` -> ``scn_01J9…``."""
    return f"{prefix}_{ulid()}"

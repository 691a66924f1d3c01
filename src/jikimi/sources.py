"""Names from outside (upload filenames, file paths) made safe for a Verdict's ``source``.

A name is whatever bytes a client or a file system chose: not necessarily
UTF-8 (a Windows client's code page, EUC-KR, Shift-JIS), possibly with control
characters (CR/LF, NUL, terminal escapes, bidi overrides that make ``exe.jpg``
read as ``gpj.exe``). Stored as they came, such names turn into mojibake, break
log lines and JSON, or (a lone surrogate from a non-UTF-8 path) make a Verdict
impossible to serialise at all. So ``source`` gets a *normalised* name:

* bytes decoded as UTF-8; what is not UTF-8 becomes U+FFFD, never a guessed code page;
* control characters (C0, DEL, C1, bidi controls, line/paragraph separators) → U+FFFD;
* Unicode NFC (so a macOS NFD name equals the same name typed elsewhere).

When that changed anything, ``source`` also keeps the bytes exactly as they
came, as a Python bytes literal (ASCII only, e.g. ``b'caf\\xe9.jpg'``), under
``<key>_raw`` (``filename_raw``, ``path_raw``): nothing is lost, and ordinary
names carry no extra field. Both are additions to Verdict v1.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Final

REPLACEMENT: Final = "\ufffd"

_BIDI_CONTROLS: Final = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Unicode format characters that reorder text on screen (category Cf, but not harmless)."""


def normalise(raw: bytes) -> str:
    """The name to show and store for ``raw`` (see the module docstring)."""
    text = unicodedata.normalize("NFC", raw.decode("utf-8", errors="replace"))
    return "".join(REPLACEMENT if _is_control(c) else c for c in text)


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in {"Cc", "Zl", "Zp"} or char in _BIDI_CONTROLS


def named(key: str, raw: bytes) -> dict[str, str]:
    """``{key: normalised}``, plus ``{key}_raw`` (the bytes' repr) if normalising changed them."""
    name = normalise(raw)
    if name.encode("utf-8") == raw:
        return {key: name}
    return {key: name, f"{key}_raw": repr(raw)}


def path_source(path: Path) -> dict[str, str]:
    """The ``source`` of a scanned file: its path, normalised (``path_raw`` if changed)."""
    return named("path", os.fsencode(path))

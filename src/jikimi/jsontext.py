"""JSON decoding of text that users send: nesting too deep to parse is a decode error.

Why this exists: for input such as ``[[[[…`` a hundred thousand levels deep,
``json.loads`` raises ``RecursionError``, not ``JSONDecodeError``. Uncaught, that
is a 500 for a request, and in a bank import the loss of the whole import. Every
decode of user-sent JSON goes through here, so the callers' existing
``except json.JSONDecodeError`` covers it: a 422, or one bad row.
"""

from __future__ import annotations

import json
from typing import Any


def _too_deep(pos: int) -> json.JSONDecodeError:
    return json.JSONDecodeError("nested too deeply to read", "", pos)


def loads(text: str | bytes) -> Any:
    """``json.loads``; too deep a nesting raises :class:`json.JSONDecodeError`."""
    try:
        return json.loads(text)
    except RecursionError:
        raise _too_deep(0) from None


def raw_decode(decoder: json.JSONDecoder, text: str, pos: int) -> tuple[Any, int]:
    """``decoder.raw_decode(text, pos)``; too deep a nesting raises
    :class:`json.JSONDecodeError` (at ``pos``)."""
    try:
        return decoder.raw_decode(text, pos)
    except RecursionError:
        raise _too_deep(pos) from None

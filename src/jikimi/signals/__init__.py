"""Signals: what a piece of media *is* (PDQ, vPDQ, MD5, SHA-256), as hashes banks can store.

Public API::

    from jikimi.signals import PdqSignal, Md5Signal, Sha256Signal, signal_types

    PdqSignal.hash_picture(picture)        # Signal(type=pdq, value=<64 hex>, quality)
    PdqSignal.dihedral_hashes(picture)     # 8 hex strings, DihedralTransform order
    Md5Signal.hash_bytes(data)             # Signal(type=md5, value=<32 hex>)
    PdqSignal.validate(text)               # canonical lowercase hex or InvalidHash
    PdqSignal.distance(a, b)               # differing bits
    VpdqSignal.validate(text)              # a video's frame hashes, canonical vPDQ text

The registry is an explicit list (:func:`signal_types`): adding a type means adding
it there, and its ``get_name()`` must be new (checked the first time the list is
built). Which index holds each kind, and how it is stored, is declared beside it in
:mod:`jikimi.matching.kinds`. Nothing is computed at import time.
"""

from __future__ import annotations

from functools import cache

from jikimi.domain import SignalKind
from jikimi.errors import ConfigError
from jikimi.signals.base import (
    BytesHasher,
    FixedHex,
    HammingDistance,
    PictureHasher,
    SignalType,
)
from jikimi.signals.digests import Md5Signal, Sha256Signal
from jikimi.signals.distance import hamming_hex
from jikimi.signals.pdq import DihedralTransform, PdqSignal
from jikimi.signals.vpdq import VpdqSignal

__all__ = [
    "BytesHasher",
    "DihedralTransform",
    "FixedHex",
    "HammingDistance",
    "Md5Signal",
    "PdqSignal",
    "PictureHasher",
    "Sha256Signal",
    "SignalType",
    "VpdqSignal",
    "check_unique",
    "hamming_hex",
    "signal_type",
    "signal_types",
]


@cache
def signal_types() -> tuple[type[SignalType], ...]:
    """Every signal type jikimi knows, in a stable order; names checked unique."""
    return check_unique((PdqSignal, Md5Signal, Sha256Signal, VpdqSignal))


def signal_type(kind: SignalKind) -> type[SignalType]:
    """The registered type named ``kind``; :class:`ConfigError` if none is."""
    for candidate in signal_types():
        if candidate.get_name() == kind:
            return candidate
    raise ConfigError(f"no signal type named {kind.value!r} is registered")


def check_unique(types: tuple[type[SignalType], ...]) -> tuple[type[SignalType], ...]:
    """Return ``types`` unchanged, or raise :class:`ConfigError` on a repeated name.

    Names are storage keys: two types sharing one would silently mix their hashes
    in the banks.
    """
    seen: dict[SignalKind, type[SignalType]] = {}
    for candidate in types:
        name = candidate.get_name()
        if name in seen:
            raise ConfigError(
                f"signal types {seen[name].__name__} and {candidate.__name__} "
                f"both use the name {name.value!r}"
            )
        seen[name] = candidate
    return types

"""The registry of signal kinds: everything that differs per kind, declared once.

Each kind (pdq, vpdq, md5, sha256; face embeddings will be one more line) says here

* which :class:`~jikimi.signals.SignalType` computes, parses and validates it
  (``signal.validate`` is the one check every door and the importer use);
* which :class:`~jikimi.matching.indexes.SignalIndex` holds it in a bank;
* what that index is fed (``payload``): the entry's stored value, or, for a
  video, its frames (kept in ``video_frames``; the entry's value is the video's
  identity digest);
* how a stored scan keeps it (``scan_key``: the value of its ``scan_signals``
  row, at most 64 characters so it can be indexed) and whether retroactive
  matching may look scans up by that key (``exact``) or must stream them
  through an index of the new entries;
* whether the pipeline's dihedral variants apply (``dihedral``), and the re-share
  variants of ``signals.variants``: entries keep some (``bank_variants``), uploads
  are looked up by theirs (``query_variants``).

Banks, matching, stored scans, import/export and the API read these fields
instead of switching on :class:`~jikimi.domain.SignalKind`. Nothing is computed
at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from jikimi.domain import SignalKind
from jikimi.errors import ConfigError
from jikimi.matching.indexes import (
    Md5SignalIndex,
    PdqSignalIndex,
    Sha256SignalIndex,
    SignalIndex,
    VpdqSignalIndex,
)
from jikimi.signals import Md5Signal, PdqSignal, Sha256Signal, SignalType, signal_types
from jikimi.signals.vpdq import VpdqSignal, parse_vpdq, video_identity


class Payload(StrEnum):
    """What a kind's index is fed from the database."""

    VALUE = "value"
    """The entry's ``value`` column."""
    FRAMES = "frames"
    """The entry's frames (``video_frames``) as a vPDQ text; ``value`` is an identity."""


@dataclass(frozen=True)
class KindSpec:
    """How one signal kind is computed, indexed, stored and matched."""

    kind: SignalKind
    signal: type[SignalType]
    index: type[SignalIndex]
    payload: Payload = Payload.VALUE
    exact: bool = False
    """Matches are equality only (distance 0): stored scans are looked up by key."""
    dihedral: bool = False
    """Uploads are also looked up by their 8 flips and rotations, in banks that ask."""
    bank_variants: bool = False
    """Entries keep variant hashes (crops of the banked picture), in banks with
    ``variants`` on (``signals.variants``)."""
    query_variants: bool = False
    """Uploads are also looked up by their variants (trimmed, framed, deskewed; a
    video's frames trimmed), in banks with ``variants`` on."""
    scan_key: Callable[[str], str] = str
    """The canonical value → the ``scan_signals`` row value (≤ 64 characters)."""

    def validate(self, value: str) -> str:
        """The canonical form of ``value`` (:class:`~jikimi.errors.InvalidHash` if none)."""
        return self.signal.validate(value)

    def new_index(self, max_threshold: int) -> SignalIndex:
        return self.index(max_threshold)


def _video_key(text: str) -> str:
    return video_identity(parse_vpdq(text))


@cache
def kind_specs() -> tuple[KindSpec, ...]:
    """Every kind jikimi banks and matches, in a stable order (checked against signals)."""
    specs = (
        KindSpec(
            SignalKind.PDQ,
            PdqSignal,
            PdqSignalIndex,
            dihedral=True,
            bank_variants=True,
            query_variants=True,
        ),
        KindSpec(SignalKind.MD5, Md5Signal, Md5SignalIndex, exact=True),
        KindSpec(SignalKind.SHA256, Sha256Signal, Sha256SignalIndex, exact=True),
        KindSpec(
            SignalKind.VPDQ,
            VpdqSignal,
            VpdqSignalIndex,
            payload=Payload.FRAMES,
            scan_key=_video_key,
            query_variants=True,
        ),
    )
    registered = set(signal_types())
    for spec in specs:
        if spec.signal.get_name() is not spec.kind or spec.index.kind is not spec.kind:
            raise ConfigError(f"the {spec.kind.value} kind's signal type or index disagree")
        if spec.signal not in registered:
            raise ConfigError(f"{spec.signal.__name__} is not in the signal registry")
    return specs


def kind_spec(kind: SignalKind) -> KindSpec:
    """The spec of ``kind``; :class:`ConfigError` if it is not banked."""
    for spec in kind_specs():
        if spec.kind is kind:
            return spec
    raise ConfigError(f"{kind.value} signals cannot be banked or matched")


def holds_frames(kind: SignalKind) -> bool:
    """Whether entries of ``kind`` are videos whose frames live in ``video_frames``."""
    return kind_spec(kind).payload is Payload.FRAMES


def banked_kinds() -> frozenset[SignalKind]:
    """The kinds a bank may hold (and ``POST /v1/match`` may look up)."""
    return frozenset(spec.kind for spec in kind_specs())

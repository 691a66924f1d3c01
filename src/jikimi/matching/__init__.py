"""Matching: which bank entries a hash matches, exactly, from in-memory indexes.

Public API::

    from jikimi.matching import PdqIndex, DigestIndex, DigestKind, SnapshotError

    index = PdqIndex.build(ids, hashes)          # int64 entry ids; hex or (n, 32) uint8
    index.add(seq, "<64 hex>")                   # replaces the id's hash if it had one
    index.remove(seq)                            # never returned again, from now on
    index.query("<64 hex>", threshold=31)        # [PdqHit(entry_id, distance)], nearest first
    index.query_many(hexes, threshold)           # one list per hash (e.g. 8 dihedral variants)
    index.save(path, watermark=last_change_id)   # atomic; load() returns (index, watermark)

    digests = DigestIndex(DigestKind.MD5)        # same verbs, exact equality

The indexes are pure code and a cache: the service layer feeds them entries read
from the database (the source of truth), replays changes after the snapshot's
watermark at start-up, and rebuilds from the database when ``load`` raises
:class:`SnapshotError`. Nothing here touches the database or runs at import.
"""

from __future__ import annotations

from jikimi.matching.digest_index import DigestIndex, DigestKind
from jikimi.matching.pdq_index import (
    DEFAULT_MAX_THRESHOLD,
    MAX_SUPPORTED_THRESHOLD,
    PdqHit,
    PdqIndex,
    parse_pdq_hex,
)
from jikimi.matching.snapshot import SnapshotError, SnapshotProblem

__all__ = [
    "DEFAULT_MAX_THRESHOLD",
    "MAX_SUPPORTED_THRESHOLD",
    "DigestIndex",
    "DigestKind",
    "PdqHit",
    "PdqIndex",
    "SnapshotError",
    "SnapshotProblem",
    "parse_pdq_hex",
]

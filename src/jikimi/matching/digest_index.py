"""Exact lookup of file digests (MD5, SHA-256): a dict, shaped like the PDQ index.

Why a separate index: a digest matches only byte-identical files, so there is no
distance and no threshold, and a hash map is already optimal. It keeps the same
verbs as :class:`~jikimi.matching.pdq_index.PdqIndex` (add replaces, remove is
idempotent, save/load with a watermark) so the service layer keeps both in step
the same way. Several entries may share a digest (the same file in two banks);
a query returns all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

import numpy as np

from jikimi.errors import InvalidHash
from jikimi.matching.snapshot import SnapshotError, SnapshotProblem, read_snapshot, write_snapshot


class DigestKind(StrEnum):
    """The digests this index holds; the value is the snapshot's kind tag."""

    MD5 = "md5"
    SHA256 = "sha256"

    @property
    def size(self) -> int:
        """Bytes in one digest."""
        return 16 if self is DigestKind.MD5 else 32


class DigestIndex:
    """Entry ids by exact digest; entry ids are the caller's int64s."""

    def __init__(self, kind: DigestKind) -> None:
        self.kind = kind
        self._by_digest: dict[bytes, set[int]] = {}
        self._by_id: dict[int, bytes] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    def add(self, entry_id: int, digest: str) -> None:
        """Index ``digest`` under ``entry_id``, replacing any digest the id had."""
        key = self._parse(digest)
        self.remove(entry_id)
        self._by_id[entry_id] = key
        self._by_digest.setdefault(key, set()).add(entry_id)

    def add_many(self, ids: Iterable[int], digests: Iterable[str]) -> None:
        """:meth:`add` for each pair; a repeated id keeps its last digest."""
        for entry_id, digest in zip(ids, digests, strict=True):
            self.add(entry_id, digest)

    def remove_many(self, ids: Iterable[int]) -> int:
        """Forget these ids; returns how many were indexed."""
        return sum(self.remove(entry_id) for entry_id in set(ids))

    def remove(self, entry_id: int) -> bool:
        """Forget ``entry_id``; False if it was not indexed (removing twice is harmless)."""
        key = self._by_id.pop(entry_id, None)
        if key is None:
            return False
        holders = self._by_digest[key]
        holders.discard(entry_id)
        if not holders:
            del self._by_digest[key]
        return True

    def query(self, digest: str) -> list[int]:
        """Entry ids holding exactly this digest, ascending."""
        return sorted(self._by_digest.get(self._parse(digest), ()))

    def _parse(self, digest: str) -> bytes:
        """Raw bytes of a hex digest of this kind (either case); :class:`InvalidHash` if not."""
        try:
            key = bytes.fromhex(digest) if isinstance(digest, str) and digest.isascii() else b""
        except ValueError:
            key = b""
        if len(key) != self.kind.size or len(digest) != 2 * self.kind.size:
            raise InvalidHash(
                f"{self.kind.value} digest must be {2 * self.kind.size} hex digits: "
                f"{str(digest)[:80]!r}"
            )
        return key

    # --- snapshots -------------------------------------------------------------

    def save(self, path: Path, watermark: int) -> None:
        """Write a snapshot atomically; ``watermark`` is the last change applied."""
        ids = np.fromiter(self._by_id, dtype=np.int64, count=len(self._by_id))
        raw = b"".join(self._by_id.values())
        digests = np.frombuffer(raw, dtype=np.uint8).reshape(len(ids), self.kind.size)
        write_snapshot(Path(path), self.kind.value, watermark, {}, {"ids": ids, "digests": digests})

    @classmethod
    def load(cls, path: Path, kind: DigestKind) -> tuple[DigestIndex, int]:
        """The saved index and its watermark; :class:`SnapshotError` means rebuild."""
        path = Path(path)
        contents = read_snapshot(path, kind.value)
        ids, digests = contents.arrays.get("ids"), contents.arrays.get("digests")
        if (
            ids is None
            or digests is None
            or ids.dtype != np.int64
            or digests.dtype != np.uint8
            or ids.ndim != 1
            or digests.shape != (len(ids), kind.size)
            or len(np.unique(ids)) != len(ids)
        ):
            raise SnapshotError(path, SnapshotProblem.MALFORMED, "ids and digests do not fit")
        index = cls(kind)
        for entry_id, row in zip(ids.tolist(), digests, strict=True):
            key = row.tobytes()
            index._by_id[entry_id] = key
            index._by_digest.setdefault(key, set()).add(entry_id)
        return index, contents.watermark

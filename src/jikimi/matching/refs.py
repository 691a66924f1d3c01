"""Public entry ids by index id: how a hit (an entry ``seq``) is reported without a database.

The indexes hold int64 ids (an entry's ``seq``) because that is what they can
pack; a Match names the entry by its public id (``ent_…``). Holding the
mapping next to the indexes lets a bank snapshot answer with no I/O, in the
API process and in a worker that has only the snapshot files.

Layout: sorted arrays (``seqs`` int64, ``ids`` fixed-width bytes; about 40
bytes an entry) plus a small dict of recent changes, merged into the arrays
when it grows past an eighth of them or when the refs are saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from jikimi.matching.snapshot import SnapshotError, SnapshotProblem, read_snapshot, write_snapshot

_KIND = "refs"
_MIN_DELTA = 65_536


class EntryRefs:
    """``seq`` → public entry id, for the entries a bank's indexes hold."""

    def __init__(self) -> None:
        self._seqs: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._ids: NDArray[np.bytes_] = np.empty(0, dtype="S1")
        self._delta: dict[int, str | None] = {}
        """Recent changes: an id, or ``None`` for a removed seq."""

    def __len__(self) -> int:
        self._merge()
        return len(self._seqs)

    def get(self, seq: int) -> str | None:
        if seq in self._delta:
            return self._delta[seq]
        at = int(np.searchsorted(self._seqs, seq))
        if at < len(self._seqs) and int(self._seqs[at]) == seq:
            return bytes(self._ids[at]).decode()
        return None

    def add(self, seqs: Sequence[int], ids: Sequence[str]) -> None:
        for seq, entry_id in zip(seqs, ids, strict=True):
            self._delta[int(seq)] = entry_id
        self._maybe_merge()

    def remove(self, seqs: Iterable[int]) -> None:
        for seq in seqs:
            self._delta[int(seq)] = None
        self._maybe_merge()

    def _maybe_merge(self) -> None:
        if len(self._delta) > max(_MIN_DELTA, len(self._seqs) // 8):
            self._merge()

    def _merge(self) -> None:
        if not self._delta:
            return
        changed = np.fromiter(self._delta, dtype=np.int64, count=len(self._delta))
        keep = ~np.isin(self._seqs, changed)
        added = [(seq, entry_id) for seq, entry_id in self._delta.items() if entry_id is not None]
        new_seqs = np.fromiter((s for s, _ in added), dtype=np.int64, count=len(added))
        new_ids = np.array([i.encode() for _, i in added], dtype=np.bytes_)
        seqs = np.concatenate([self._seqs[keep], new_seqs])
        width = max(self._ids.dtype.itemsize, new_ids.dtype.itemsize if len(new_ids) else 1)
        ids = np.concatenate([self._ids[keep].astype(f"S{width}"), new_ids.astype(f"S{width}")])
        order = np.argsort(seqs, kind="stable")
        self._seqs, self._ids = seqs[order], ids[order]
        self._delta.clear()

    # --- snapshots -------------------------------------------------------------

    def save(self, path: Path, watermark: int) -> None:
        self._merge()
        width = self._ids.dtype.itemsize
        raw = np.frombuffer(self._ids.tobytes(), dtype=np.uint8).reshape(len(self._ids), width)
        write_snapshot(path, _KIND, watermark, {"width": width}, {"seqs": self._seqs, "ids": raw})

    @classmethod
    def load(cls, path: Path) -> tuple[EntryRefs, int]:
        contents = read_snapshot(path, _KIND)
        seqs, raw = contents.arrays.get("seqs"), contents.arrays.get("ids")
        width = contents.params.get("width")
        if (
            seqs is None
            or raw is None
            or not isinstance(width, int)
            or width < 1
            or seqs.dtype != np.int64
            or raw.dtype != np.uint8
            or raw.shape != (len(seqs), width)
            or np.any(np.diff(seqs) <= 0)
        ):
            raise SnapshotError(path, SnapshotProblem.MALFORMED, "seqs and ids do not fit")
        refs = cls()
        refs._seqs = seqs
        refs._ids = np.frombuffer(raw.tobytes(), dtype=f"S{width}")
        return refs, contents.watermark

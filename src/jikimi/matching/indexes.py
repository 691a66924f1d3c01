"""One interface for every signal kind's index: strings in, ``IndexHit`` lists out.

Why: the three index structures (:class:`~jikimi.matching.PdqIndex`,
:class:`~jikimi.matching.DigestIndex`, :class:`~jikimi.matching.vpdq_index.VpdqIndex`)
each have the verbs that suit their data (hex arrays, digests, frame lists) and
their own query signatures. Everything above them (a bank's indexes, the bank
snapshot, retroactive matching) goes through :class:`SignalIndex` instead, so it
never asks which kind it holds::

    index.add(ids, values)          # canonical values (jikimi.signals' validate), int64 ids
    index.remove(ids)               # idempotent
    index.query(values, options)    # one list of IndexHit per value, nearest first
    index.save(path, watermark)     # atomic snapshot; type(index).load(path) -> (index, mark)

Values are the signal's canonical text: 64 hex digits for PDQ, the digest for
MD5/SHA-256, a vPDQ text (one ``frame,quality,hash,timestamp`` line per frame)
for vPDQ. Which class holds which kind is declared once, in
:mod:`jikimi.matching.kinds`. Not thread-safe: callers hold a lock around
changes (queries may run together).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Self

import numpy as np
from numpy.typing import NDArray

from jikimi.domain import SignalKind
from jikimi.errors import InvalidHash, InvalidInput
from jikimi.matching.digest_index import DigestIndex, DigestKind
from jikimi.matching.pdq_index import PdqIndex, parse_pdq_hex
from jikimi.matching.snapshot import SnapshotError, SnapshotProblem, read_snapshot, write_snapshot
from jikimi.matching.vpdq_index import VpdqIndex
from jikimi.signals.vpdq import FrameHash, parse_vpdq


class QueryOptions(NamedTuple):
    """What a bank asks of a lookup (kinds ignore what does not apply to them)."""

    threshold: int
    """Largest distance in bits that matches (perceptual kinds)."""
    query_share: float = 0.0
    """Videos: least share (0..1) of the query's usable frames that must match."""
    index_share: float = 0.0
    """Videos: least share (0..1) of the banked video's usable frames that must match."""


class IndexHit(NamedTuple):
    """An indexed entry matching a query value."""

    entry_id: int
    distance: int
    query_share: float | None = None
    index_share: float | None = None


class SignalIndex(ABC):
    """The entries of one signal kind, by int64 id (a bank entry's ``seq``)."""

    kind: ClassVar[SignalKind]

    @abstractmethod
    def __init__(self, max_threshold: int) -> None:
        """An empty index answering thresholds up to ``max_threshold`` (where that applies)."""

    @property
    @abstractmethod
    def max_threshold(self) -> int:
        """The largest threshold :meth:`query` accepts."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def add(self, ids: Sequence[int], values: Sequence[str]) -> None:
        """Index ``values`` under ``ids``; an id already held takes its new value."""

    @abstractmethod
    def remove(self, ids: Sequence[int]) -> None:
        """Forget ``ids`` (absent ones are ignored)."""

    @abstractmethod
    def query(self, values: Sequence[str], options: QueryOptions) -> list[list[IndexHit]]:
        """Hits of each value, nearest first; :class:`InvalidHash` for a malformed value
        even when the index is empty."""

    def defer_folds(self, rows: int) -> None:  # noqa: B027 - optional, no-op by default
        """Up to ``rows`` adds may skip costly reorganisation until :meth:`settle`
        (a restart's replay); indexes with nothing to defer ignore it."""

    def settle(self) -> None:  # noqa: B027 - optional, no-op by default
        """Do what :meth:`defer_folds` put off."""

    @abstractmethod
    def save(self, path: Path, watermark: int) -> None:
        """Write a snapshot atomically with ``watermark`` (the last change applied)."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path) -> tuple[Self, int]:
        """A saved index and its watermark; :class:`SnapshotError` means rebuild."""


class PdqSignalIndex(SignalIndex):
    """PDQ: exact to the threshold (multi-index hashing, see ``pdq_index``)."""

    kind = SignalKind.PDQ

    def __init__(self, max_threshold: int, *, index: PdqIndex | None = None) -> None:
        self._index = index if index is not None else PdqIndex(max_threshold)

    @property
    def max_threshold(self) -> int:
        return self._index.max_threshold

    def __len__(self) -> int:
        return len(self._index)

    @property
    def nbytes(self) -> int:
        """Bytes the index holds in memory (the robustness bench compares banks by it)."""
        return self._index.nbytes

    def add(self, ids: Sequence[int], values: Sequence[str]) -> None:
        if len(ids):
            self._index.add_many(np.asarray(ids, dtype=np.int64), parse_pdq_hex(list(values)))

    def remove(self, ids: Sequence[int]) -> None:
        if len(ids):
            self._index.remove_many(np.asarray(ids, dtype=np.int64))

    def defer_folds(self, rows: int) -> None:
        self._index.defer_folds(rows)

    def settle(self) -> None:
        self._index.settle()

    def query(self, values: Sequence[str], options: QueryOptions) -> list[list[IndexHit]]:
        parsed = parse_pdq_hex(list(values))  # refuses a bad hash even when empty
        if not len(self._index):
            return [[] for _ in values]
        return [
            [IndexHit(hit.entry_id, hit.distance) for hit in hits]
            for hits in self._index.query_many(parsed, options.threshold)
        ]

    def save(self, path: Path, watermark: int) -> None:
        self._index.save(path, watermark)

    @classmethod
    def load(cls, path: Path) -> tuple[Self, int]:
        index, mark = PdqIndex.load(path)
        return cls(index.max_threshold, index=index), mark


class _DigestSignalIndex(SignalIndex):
    """A file digest: exact equality, distance 0."""

    digest: ClassVar[DigestKind]

    def __init__(self, max_threshold: int = 0, *, index: DigestIndex | None = None) -> None:
        self._index = index if index is not None else DigestIndex(self.digest)

    @property
    def max_threshold(self) -> int:
        return 0

    def __len__(self) -> int:
        return len(self._index)

    def add(self, ids: Sequence[int], values: Sequence[str]) -> None:
        self._index.add_many(ids, values)

    def remove(self, ids: Sequence[int]) -> None:
        self._index.remove_many(ids)

    def query(self, values: Sequence[str], options: QueryOptions) -> list[list[IndexHit]]:
        return [[IndexHit(seq, 0) for seq in self._index.query(value)] for value in values]

    def save(self, path: Path, watermark: int) -> None:
        self._index.save(path, watermark)

    @classmethod
    def load(cls, path: Path) -> tuple[Self, int]:
        index, mark = DigestIndex.load(path, cls.digest)
        return cls(index=index), mark


class Md5SignalIndex(_DigestSignalIndex):
    kind = SignalKind.MD5
    digest = DigestKind.MD5


class Sha256SignalIndex(_DigestSignalIndex):
    kind = SignalKind.SHA256
    digest = DigestKind.SHA256


class VpdqSignalIndex(SignalIndex):
    """vPDQ: whole videos matched by the shares of their frames (see ``vpdq_index``).

    It keeps each video's canonical text beside the frame index so that it can be
    snapshotted like the others (a worker with no database needs its videos too);
    video banks are small next to image banks, so the copy costs little.
    """

    kind = SignalKind.VPDQ

    def __init__(self, max_threshold: int) -> None:
        self._index = VpdqIndex(max_threshold=max_threshold)
        self._texts: dict[int, str] = {}

    @property
    def max_threshold(self) -> int:
        return self._index.max_threshold

    def __len__(self) -> int:
        return len(self._index)

    def add(self, ids: Sequence[int], values: Sequence[str]) -> None:
        videos = [(int(seq), _frames(text)) for seq, text in zip(ids, values, strict=True)]
        self._index.add_many(videos)
        self._texts.update(zip((seq for seq, _ in videos), values, strict=True))

    def remove(self, ids: Sequence[int]) -> None:
        for seq in ids:
            self._index.remove(seq)
            self._texts.pop(seq, None)

    def query(self, values: Sequence[str], options: QueryOptions) -> list[list[IndexHit]]:
        out: list[list[IndexHit]] = []
        for text in values:
            frames = _frames(text)
            if not len(self._index):
                out.append([])
                continue
            out.append(
                [
                    IndexHit(hit.entry_id, hit.distance, hit.query_share, hit.index_share)
                    for hit in self._index.query(frames, options.threshold)
                    if hit.query_share >= options.query_share
                    and hit.index_share >= options.index_share
                ]
            )
        return out

    def save(self, path: Path, watermark: int) -> None:
        ids = np.fromiter(self._texts, dtype=np.int64, count=len(self._texts))
        raw = [text.encode() for text in self._texts.values()]
        ends = np.cumsum([len(b) for b in raw], dtype=np.int64)
        text = np.frombuffer(b"".join(raw), dtype=np.uint8)
        params = {"max_threshold": self.max_threshold}
        arrays: dict[str, NDArray[Any]] = {"ids": ids, "ends": ends, "text": text}
        write_snapshot(path, self.kind.value, watermark, params, arrays)

    @classmethod
    def load(cls, path: Path) -> tuple[Self, int]:
        contents = read_snapshot(path, cls.kind.value)
        try:
            ids, ends = contents.arrays["ids"], contents.arrays["ends"]
            blob = contents.arrays["text"].tobytes()
            if ids.shape != ends.shape or (len(ends) and int(ends[-1]) != len(blob)):
                raise ValueError("ids, ends and text do not fit together")
            starts = [0, *ends[:-1].tolist()] if len(ends) else []
            texts = [blob[a:b].decode() for a, b in zip(starts, ends.tolist(), strict=True)]
            index = cls(int(contents.params["max_threshold"]))
            index.add(ids.tolist(), texts)
        except (InvalidInput, KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(path, SnapshotProblem.MALFORMED, str(exc)) from None
        return index, contents.watermark


def _frames(text: str) -> list[FrameHash]:
    try:
        return parse_vpdq(text)
    except InvalidInput as exc:
        raise InvalidHash(f"not a valid vpdq hash file: {exc.message}") from exc

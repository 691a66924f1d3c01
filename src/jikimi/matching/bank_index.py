"""One bank's in-memory indexes, one per signal kind it holds, and its entries' public ids.

The matching service keeps one :class:`BankIndex` per bank rather than one
index for everything: each bank has its own threshold, dihedral switch and
video shares, visibility is then a choice of indexes rather than a filter over
hits, and deleting a bank drops its index whole. A tenant typically sees a few
banks, so a lookup queries a few indexes.

Which index class holds a kind comes from :mod:`jikimi.matching.kinds`; nothing
here names a kind. Persistence: :meth:`save` writes every kind's index and the
entry ids (``<kind>.snap``, ``refs.snap``) with one watermark (the last change
applied) and the bank itself (``bank.json``); :meth:`load` accepts them only if
all are readable and agree, so a bank can also be loaded by a process with no
database.

Variants (``signals.variants``): a kind whose spec has ``bank_variants`` (PDQ) keeps
its entries' bank-side variant hashes in one more index of the same class
(``<kind>.variants.snap``), under ids ``seq * VARIANT_SLOTS + k`` where ``k`` is
the variant's place in :data:`~jikimi.signals.variants.BANK_VARIANTS`: a hit
names its entry and its variant with no table beside it. The entry's own hash
stays in the kind's index, looked up exactly as before.

Not thread-safe: the caller holds a lock around changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from jikimi.domain import DEFAULT_PDQ_THRESHOLD, Bank, Change, ChangeOp, SignalKind, Variant
from jikimi.matching.indexes import IndexHit, QueryOptions, SignalIndex
from jikimi.matching.kinds import KindSpec, kind_spec, kind_specs
from jikimi.matching.refs import EntryRefs
from jikimi.matching.snapshot import SnapshotError, SnapshotProblem
from jikimi.signals.variants import BANK_VARIANTS, parse_variants

BANK_FILE = "bank.json"
REFS_FILE = "refs.snap"
VARIANT_SLOTS = 4
"""Index ids per entry in a variants index (at least ``len(BANK_VARIANTS)``)."""
assert len(BANK_VARIANTS) <= VARIANT_SLOTS


def index_ceiling(threshold: int) -> int:
    """The index's ``max_threshold`` for a bank threshold: never below PDQ's 31."""
    return max(DEFAULT_PDQ_THRESHOLD, threshold)


def options_for(bank: Bank) -> QueryOptions:
    """What ``bank`` asks of every lookup in it."""
    return QueryOptions(
        threshold=bank.pdq_threshold,
        query_share=bank.vpdq_query_pct / 100,
        index_share=bank.vpdq_index_pct / 100,
    )


def _file(spec: KindSpec) -> str:
    return f"{spec.kind.value}.snap"


def _variants_file(spec: KindSpec) -> str:
    return f"{spec.kind.value}.variants.snap"


def _slots(seqs: Iterable[int]) -> list[int]:
    return [seq * VARIANT_SLOTS + k for seq in seqs for k in range(VARIANT_SLOTS)]


class BankIndex:
    """The active entries of one bank, by signal kind (ids are entry seqs)."""

    def __init__(self, bank: Bank) -> None:
        self.bank = bank
        self.ceiling = index_ceiling(bank.pdq_threshold)
        self.indexes: dict[SignalKind, SignalIndex] = {}
        """Made on a kind's first entry: most banks hold a few kinds."""
        self.variants: dict[SignalKind, SignalIndex] = {}
        """Bank-side variant hashes of the kinds that have them (see the module docstring)."""
        self.refs = EntryRefs()
        self.dirty = False
        """Changed since the last :meth:`save`."""
        self.unsaved = 0
        """Changes applied since the last :meth:`save` (the service snapshots after N)."""

    def __len__(self) -> int:
        return sum(len(index) for index in self.indexes.values())

    def fits(self, bank: Bank) -> bool:
        """Whether this index can serve ``bank``'s (possibly raised) threshold."""
        return bank.pdq_threshold <= self.ceiling

    def index(self, kind: SignalKind) -> SignalIndex | None:
        return self.indexes.get(kind)

    # --- changes -------------------------------------------------------------

    def add(
        self,
        kind: SignalKind,
        seqs: Sequence[int],
        values: Sequence[str],
        ids: Sequence[str],
        variants: Sequence[str] = (),
    ) -> None:
        """Index entries of one kind: their seqs, index values and public ids, and
        their stored variant hashes (``variants``, one text per entry, if any)."""
        if not seqs:
            return
        spec = kind_spec(kind)
        index = self.indexes.get(kind)
        if index is None:
            index = self.indexes[kind] = spec.new_index(self.ceiling)
        index.add(seqs, values)
        self.refs.add(seqs, ids)
        if spec.bank_variants:
            self._add_variants(spec, seqs, variants)
        self.dirty = True
        self.unsaved += len(seqs)

    def _add_variants(self, spec: KindSpec, seqs: Sequence[int], texts: Sequence[str]) -> None:
        """An entry added again (enabled, re-indexed) takes exactly its new variants."""
        held = self.variants.get(spec.kind)
        if held is not None:
            held.remove(_slots(seqs))
        slots: list[int] = []
        values: list[str] = []
        for seq, text in zip(seqs, texts, strict=False):
            for via, value in parse_variants(text):
                slots.append(seq * VARIANT_SLOTS + BANK_VARIANTS.index(via))
                values.append(value)
        if slots:
            if held is None:
                held = self.variants[spec.kind] = spec.new_index(self.ceiling)
            held.add(slots, values)

    def remove(self, changes: Iterable[Change]) -> None:
        """Forget the entries of REMOVE changes, whatever their kind."""
        by_kind: dict[SignalKind, list[int]] = {}
        for change in changes:
            by_kind.setdefault(change.signal, []).append(change.seq)
        for kind, seqs in by_kind.items():
            index = self.indexes.get(kind)
            if index is not None:
                index.remove(seqs)
            variants = self.variants.get(kind)
            if variants is not None:
                variants.remove(_slots(seqs))
            self.refs.remove(seqs)
            self.unsaved += len(seqs)
        self.dirty = True

    def defer_folds(self, rows: int) -> None:
        """A restart's replay: let each index put off reorganising (see ``settle``)."""
        for index in self.indexes.values():
            index.defer_folds(rows)

    def settle(self) -> None:
        for index in self.indexes.values():
            index.settle()

    # --- lookups -------------------------------------------------------------

    def query(self, kind: SignalKind, values: Sequence[str]) -> list[list[IndexHit]]:
        """Hits of each value of ``kind`` under this bank's options."""
        index = self.indexes.get(kind)
        if index is None:
            return [[] for _ in values]
        return index.query(values, options_for(self.bank))

    def query_best(self, kind: SignalKind, values: Sequence[str]) -> dict[int, IndexHit]:
        """Entry seq → its nearest hit over all ``values`` (e.g. the 8 flips)."""
        best: dict[int, IndexHit] = {}
        for hits in self.query(kind, values):
            for hit in hits:
                if hit.entry_id not in best or hit.distance < best[hit.entry_id].distance:
                    best[hit.entry_id] = hit
        return best

    def has_variants(self, kind: SignalKind) -> bool:
        """Whether some entry of ``kind`` has bank-side variants."""
        index = self.variants.get(kind)
        return index is not None and len(index) > 0

    def query_variants(
        self, kind: SignalKind, values: Sequence[str]
    ) -> list[list[tuple[IndexHit, Variant]]]:
        """Hits of each value among the entries' bank-side variants: each hit names its
        entry (``entry_id`` is the entry's seq) and which variant it was."""
        index = self.variants.get(kind)
        if index is None:
            return [[] for _ in values]
        out: list[list[tuple[IndexHit, Variant]]] = []
        for hits in index.query(values, options_for(self.bank)):
            found: list[tuple[IndexHit, Variant]] = []
            for hit in hits:
                seq, k = divmod(hit.entry_id, VARIANT_SLOTS)
                found.append((hit._replace(entry_id=seq), BANK_VARIANTS[k]))
            out.append(found)
        return out

    def variant_count(self) -> int:
        """Bank-side variant hashes held (all kinds)."""
        return sum(len(index) for index in self.variants.values())

    # --- snapshots -----------------------------------------------------------

    def save(self, directory: Path, watermark: int, *, mark_clean: bool = True) -> None:
        """Write every kind's index, the refs and the bank with ``watermark``.

        ``mark_clean=False``: a copy elsewhere, which leaves :attr:`dirty` as it is.
        """
        directory.mkdir(parents=True, exist_ok=True)
        for spec in kind_specs():
            index = self.indexes.get(spec.kind) or spec.new_index(self.ceiling)
            index.save(directory / _file(spec), watermark)
            if spec.bank_variants:
                held = self.variants.get(spec.kind) or spec.new_index(self.ceiling)
                held.save(directory / _variants_file(spec), watermark)
        self.refs.save(directory / REFS_FILE, watermark)
        _write_atomic(directory / BANK_FILE, self.bank.model_dump_json())
        if mark_clean:
            self.dirty = False
            self.unsaved = 0

    @classmethod
    def load(cls, bank: Bank | None, directory: Path) -> tuple[BankIndex, int]:
        """The saved indexes of ``bank`` (or of the bank saved with them) and their watermark.

        :class:`SnapshotError` (or a missing file) means: rebuild from the database.
        Files with different watermarks (a crash between two saves) are refused too.
        """
        if bank is None:
            bank = read_bank(directory)
        index = cls(bank)
        marks: dict[str, int] = {}
        ceilings: list[int] = []
        for spec in kind_specs():
            loaded, marks[spec.kind.value] = spec.index.load(directory / _file(spec))
            if len(loaded):
                index.indexes[spec.kind] = loaded
            if loaded.max_threshold:  # perceptual kinds: saved with the bank's ceiling
                ceilings.append(loaded.max_threshold)
            if spec.bank_variants:  # a snapshot from before variants has none: rebuilt
                held, marks[f"{spec.kind.value} variants"] = spec.index.load(
                    directory / _variants_file(spec)
                )
                if len(held):
                    index.variants[spec.kind] = held
        if ceilings:
            index.ceiling = min(ceilings)
        index.refs, marks["refs"] = EntryRefs.load(directory / REFS_FILE)
        if len(set(marks.values())) != 1:
            raise SnapshotError(
                directory,
                SnapshotProblem.MALFORMED,
                "watermarks differ (" + ", ".join(f"{k} {v}" for k, v in marks.items()) + ")",
            )
        return index, next(iter(marks.values()))


def read_bank(directory: Path) -> Bank:
    """The bank saved beside a snapshot; :class:`SnapshotError` if unreadable."""
    path = directory / BANK_FILE
    try:
        return Bank.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise SnapshotError(path, SnapshotProblem.MISSING, "no bank file") from None
    except (OSError, ValueError) as exc:
        raise SnapshotError(path, SnapshotProblem.MALFORMED, str(exc)[:200]) from None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def group_adds(changes: Sequence[Change]) -> dict[SignalKind, list[Change]]:
    """ADD changes by kind, in log order."""
    grouped: dict[SignalKind, list[Change]] = {}
    for change in changes:
        if change.op is ChangeOp.ADD:
            grouped.setdefault(change.signal, []).append(change)
    return grouped

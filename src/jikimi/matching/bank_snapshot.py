"""A tenant's banks as the pipeline sees them: an immutable snapshot it queries with no I/O.

::

    MatchService.snapshot_for(principal)      (API, CLI with a database)
    BankSnapshot.load(index_dir, tenant_id)   (a worker with only the snapshot files)
        └─► BankSnapshot: the visible, enabled banks, each with its label, kind and indexes
              .match(signals, dihedral, variants)
                                         ─► one scanned item's Matches (the pipeline's Matcher)
              .match_each(signals)       ─► Matches of each hash (POST /v1/match)

The set of banks, their settings and how each is named in Matches are fixed
when the snapshot is taken. Every :class:`~jikimi.domain.Match` carries its
bank's label, id and kind, so the policy reads the kinds from the matches
themselves. In a process that keeps indexes in step with the database the
entries are read under that process's lock (``guard``), so a hash withdrawn
while a scan runs stops matching at once; a snapshot loaded from files holds
indexes nobody changes.

Labels: bank names are unique within a tenant only, so a bank shared with the
caller that has the name of one of the caller's own (or of another shared
bank) is named by its id, which the API also accepts wherever a bank name
goes: a match in someone else's takedown bank is never read as one in the
caller's suppression bank of the same name.

Variants (banks with ``variants`` on; PDQ, and vPDQ on the query side): after
the upload's own hashes (and flips) are looked up as they always were, the
upload's own variants (trimmed, framed, deskewed; with their mirror images in
dihedral banks; a video's trimmed frames) are looked up among the entries' hashes, and
the upload's hash and variants among the entries' bank-side variants (PDQ: a
photo whose own edges are flat is trimmed on both sides alike). Such a
hit counts only for an entry the upload's own hashes did not match, and its
Match says ``via`` which variant made it: an entry matched plainly is reported
exactly as without variants.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from jikimi.domain import Bank, Match, Signal, SignalKind, Variant
from jikimi.errors import InvalidInput
from jikimi.matching.bank_index import BankIndex
from jikimi.matching.indexes import IndexHit
from jikimi.matching.kinds import banked_kinds, kind_spec
from jikimi.matching.snapshot import SnapshotError
from jikimi.signals.pdq import DihedralTransform
from jikimi.signals.variants import VariantHash

log = logging.getLogger(__name__)

Guard = Callable[[], AbstractContextManager[object]]
"""Held around every read of the indexes (the sync's read lock, or nothing)."""

Variants = Callable[[], Sequence[VariantHash]]
"""The upload's query-side variants, each with its 8 flips (computed once, on demand)."""


def _no_variants() -> Sequence[VariantHash]:
    return ()


@dataclass(frozen=True)
class SnapshotBank:
    """One visible bank: how it is named in Matches, and its indexes."""

    bank: Bank
    label: str
    index: BankIndex


class _Hit:
    __slots__ = ("distance", "index_share", "kind", "query_share", "seq", "via", "where")

    def __init__(
        self, where: SnapshotBank, kind: SignalKind, hit: IndexHit, via: Variant | None = None
    ) -> None:
        self.where = where
        self.kind = kind
        self.via = via
        self.seq = hit.entry_id
        self.distance = hit.distance
        self.query_share = None if hit.query_share is None else round(hit.query_share, 4)
        self.index_share = None if hit.index_share is None else round(hit.index_share, 4)


class BankSnapshot:
    """The pipeline's :class:`~jikimi.pipeline.Matcher` over one tenant's banks."""

    def __init__(
        self, tenant_id: str, banks: Sequence[SnapshotBank], guard: Guard | None = None
    ) -> None:
        self.tenant_id = tenant_id
        self._banks = tuple(banks)
        self._guard: Guard = guard or contextlib.nullcontext

    @property
    def banks(self) -> tuple[SnapshotBank, ...]:
        return self._banks

    @classmethod
    def of(
        cls, indexes: Iterable[BankIndex], tenant_id: str, guard: Guard | None = None
    ) -> BankSnapshot:
        """The banks of ``indexes`` that ``tenant_id`` sees (own and shared, enabled)."""
        visible = sorted(
            (
                index
                for index in indexes
                if index.bank.enabled
                and (index.bank.tenant_id == tenant_id or tenant_id in index.bank.shared_with)
            ),
            key=lambda index: index.bank.id,
        )
        labels = _labels(tenant_id, [index.bank for index in visible])
        banks = [SnapshotBank(i.bank, labels[i.bank.id], i) for i in visible]
        return cls(tenant_id, banks, guard)

    @classmethod
    def load(cls, directory: Path, tenant_id: str) -> BankSnapshot:
        """The tenant's banks from the snapshot files under ``directory`` (no database).

        Each ``<bank id>/`` sub-directory holds one bank's indexes and settings as the
        matching service saved them; one that cannot be read is skipped with a warning
        (its bank would be rebuilt from the database by the service).
        """
        indexes: list[BankIndex] = []
        if directory.is_dir():
            for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
                try:
                    index, _ = BankIndex.load(None, sub)
                except SnapshotError as exc:
                    log.warning("skipping the bank snapshot in %s: %s", sub.name, exc.message)
                    continue
                indexes.append(index)
        return cls.of(indexes, tenant_id)

    def save(self, directory: Path) -> None:
        """Write these banks' indexes under ``directory`` for :meth:`load` (e.g. by
        worker processes that have no database)."""
        with self._guard():
            for where in self._banks:
                where.index.save(directory / where.bank.id, 0, mark_clean=False)

    # --- lookups -------------------------------------------------------------

    def match(
        self,
        signals: Sequence[Signal],
        dihedral: Callable[[], Sequence[str]],
        variants: Variants = _no_variants,
    ) -> tuple[Match, ...]:
        """Matches of one scanned item (all its signals): one per entry, at its closest.

        ``dihedral()`` gives the upload's flips and rotations for kinds that have them
        (PDQ), computed once and only if some bank asks for them; ``variants()`` its
        query-side variants likewise, for banks with ``variants`` on (see the module
        docstring).
        """
        banked = banked_kinds()  # a kind no bank holds (none today) is not looked up
        specs = [(signal, kind_spec(signal.type)) for signal in signals if signal.type in banked]
        values = [spec.validate(signal.value) for signal, spec in specs]
        best: dict[int, _Hit] = {}
        extra: dict[int, _Hit] = {}
        flips: list[str] | None = None
        mine: Sequence[VariantHash] | None = None
        with self._guard():
            for where in self._banks:
                for (signal, spec), value in zip(specs, values, strict=True):
                    kind = signal.type
                    own = [value]
                    if spec.dihedral and where.bank.dihedral:
                        if flips is None:
                            flips = [spec.validate(v) for v in dihedral()]
                        own += flips
                    on = spec.query_variants and where.bank.variants
                    if on and mine is None:
                        mine = variants()
                    theirs, vias = _variant_queries(where, kind, mine) if on else ([], [])
                    # the upload's own hashes and its variants, in one lookup
                    found = where.index.query(kind, own + theirs)
                    for hits in found[: len(own)]:
                        for hit in hits:
                            _keep(best, hit.entry_id, _Hit(where, kind, hit))
                    for via, hits in zip(vias, found[len(own) :], strict=True):
                        for hit in hits:
                            _keep(extra, hit.entry_id, _Hit(where, kind, hit, via))
                    if on and where.index.has_variants(kind):
                        # the upload's hash and variants among the entries' variants
                        pairs = where.index.query_variants(kind, [value, *theirs])
                        for mine_via, hits_of in zip([None, *vias], pairs, strict=True):
                            for hit, via in hits_of:  # the upload's variant named first
                                _keep(extra, hit.entry_id, _Hit(where, kind, hit, mine_via or via))
            for seq, hit_ in extra.items():
                best.setdefault(seq, hit_)  # a plain hit of the same entry stays as it was
            return tuple(self._resolve(best.values()))

    def match_each(self, signals: Sequence[Signal]) -> list[list[Match]]:
        """Matches of each hash, nearest first; one query per bank and kind for all of them.

        Hash-only lookups cannot use dihedral matching (the flips are computed from
        the image, not from its hash): a platform that wants them sends the eight
        variants as eight hashes. A malformed hash is refused even when no bank would
        be asked (:class:`~jikimi.errors.InvalidHash`).
        """
        by_kind: dict[SignalKind, list[int]] = {}
        banked = banked_kinds()
        for signal in signals:
            if signal.type not in banked:
                raise InvalidInput(f"cannot match {signal.type.value} hashes")
        values = [kind_spec(signal.type).validate(signal.value) for signal in signals]
        for i, signal in enumerate(signals):
            by_kind.setdefault(signal.type, []).append(i)
        found: list[list[_Hit]] = [[] for _ in signals]
        with self._guard():
            for where in self._banks:
                for kind, positions in by_kind.items():
                    asked = [values[i] for i in positions]
                    for i, hits in zip(positions, where.index.query(kind, asked), strict=True):
                        found[i] += [_Hit(where, kind, hit) for hit in hits]
            return [self._resolve(hits) for hits in found]

    def _resolve(self, hits: Iterable[_Hit]) -> list[Match]:
        """Hits as Matches (public entry ids from the refs), nearest first."""
        out: list[tuple[tuple[int, str, int], Match]] = []
        for hit in hits:
            entry = hit.where.index.refs.get(hit.seq)
            if entry is None:  # removed since: not a match any more
                continue
            bank = hit.where.bank
            match = Match(
                bank=hit.where.label,
                bank_id=bank.id,
                bank_kind=bank.kind,
                signal=hit.kind,
                distance=hit.distance,
                entry=entry,
                query_share=hit.query_share,
                index_share=hit.index_share,
                via=hit.via,
            )
            out.append(((hit.distance, hit.where.label, hit.seq), match))
        out.sort(key=lambda pair: pair[0])
        return [match for _, match in out]

    def entry_count(self) -> int:
        with self._guard():
            return sum(len(where.index) for where in self._banks)


_MIRROR = list(DihedralTransform).index(DihedralTransform.FLIP_Y)
"""Where the left-right mirror image is among a variant's flips."""


def _variant_queries(
    where: SnapshotBank, kind: SignalKind, mine: Sequence[VariantHash] | None
) -> tuple[list[str], list[Variant]]:
    """The upload's variant hashes of ``kind`` to look up in ``where`` (with their mirror
    image in a dihedral bank: a mirrored picture in a screenshot; the other six flips
    would double the lookups for what re-shares rarely do), and the variant each one is."""
    asked: list[str] = []
    vias: list[Variant] = []
    for variant in mine or ():
        if variant.kind is kind:
            flipped = where.bank.dihedral and variant.flips
            hashes = [variant.value, variant.flips[_MIRROR]] if flipped else [variant.value]
            asked += hashes
            vias += [variant.via] * len(hashes)
    return asked, vias


def _keep(best: dict[int, _Hit], seq: int, hit: _Hit) -> None:
    if seq not in best or hit.distance < best[seq].distance:
        best[seq] = hit


def _labels(tenant_id: str, banks: Sequence[Bank]) -> Mapping[str, str]:
    """How each visible bank is named in Matches (see the module docstring)."""
    own = {b.name for b in banks if b.tenant_id == tenant_id}
    shared_names = [b.name for b in banks if b.tenant_id != tenant_id]
    return {
        b.id: b.id
        if b.tenant_id != tenant_id and (b.name in own or shared_names.count(b.name) > 1)
        else b.name
        for b in banks
    }

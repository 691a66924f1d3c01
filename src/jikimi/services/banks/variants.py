"""``reindex``: variant hashes for entries banked before their bank computed them.

Bank-side variants (``signals.variants``: centre crops of the banked picture, and
the picture trimmed of its own borders) are computed from the picture when an
entry is added from media to a bank with ``variants`` on. Older entries, or
entries added while the setting was off, have none; this computes them where
the bank kept the media (``keep_evidence``, the blob store by SHA-256).

An entry banked as a hash alone (imported from a hash list, added as a PDQ
value) has no picture to cut: it keeps its one hash, and uploads are still
matched against it by their own variants (trimmed, framed, deskewed). The
report counts those apart, and those whose media was not kept.
"""

from __future__ import annotations

from jikimi.domain import Change, Permission, Principal, ReindexReport
from jikimi.errors import MediaError
from jikimi.services._common import now, require
from jikimi.services.banks._base import ServiceBase, owned
from jikimi.services.banks.hashing import hash_media
from jikimi.store import entries as entry_repo

REINDEX_BATCH = 200
"""Entries updated per transaction (each one decoded and hashed a few times first)."""


class VariantOps(ServiceBase):
    def reindex(self, principal: Principal, bank: str) -> ReindexReport:
        """Compute and store the bank-side variants of every PDQ entry whose media the
        bank kept; the indexes take them as they do any change."""
        require(principal, Permission.BANK_WRITE)
        with self.store.session() as s, s.begin():
            target = owned(s, principal, bank)
            sources = list(entry_repo.iter_variant_sources(s, target.id))
        counts = {"updated": 0, "hash_only": 0, "media_missing": 0, "unreadable": 0, "kept": 0}
        pending: list[tuple[int, str]] = []
        for seq, sha256, held in sources:
            if sha256 is None:
                counts["hash_only"] += 1
                continue
            if not self.store.blobs.exists(sha256):
                counts["kept" if held else "media_missing"] += 1
                continue
            try:
                hashed = hash_media(self.store.blobs.read(sha256), self.settings, variants=True)
            except MediaError:
                counts["unreadable"] += 1
                continue
            pending.append((seq, hashed.variants))
            if len(pending) >= REINDEX_BATCH:
                counts["updated"] += self._store_variants(pending)
        counts["updated"] += self._store_variants(pending)
        return ReindexReport(bank=target.name, entries=len(sources), **counts)

    def _store_variants(self, pending: list[tuple[int, str]]) -> int:
        changes: list[Change] = []
        with self.store.session(write=True) as s, s.begin():
            for seq, variants in pending:
                change = entry_repo.set_entry_variants(s, seq, variants, now())
                if change is not None:
                    changes.append(change)
        done = len(pending)
        pending.clear()
        self._entries_changed(changes)
        return done

"""Stored scans: a Verdict as kept in the database, its hashes and its bank matches."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from jikimi.domain.base import Frozen
from jikimi.domain.verdict import Verdict


class ScanRecord(Frozen):
    """A stored scan: its Verdict, with later (retroactive) matches appended."""

    id: str
    tenant_id: str
    created_at: datetime
    verdict: Verdict


class ScanHashes(NamedTuple):
    """A stored scan's hashes, for re-checking against entries added later (streamed)."""

    scan_id: str
    tenant_id: str
    created_at: datetime
    pdq: str | None
    md5: str | None
    sha256: str | None


class ScanMatch(Frozen):
    """A match found after the scan (retroactively), to record against it."""

    scan_id: str
    entry_seq: int
    distance: int

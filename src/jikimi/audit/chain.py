"""The audit log's hash chain: Certificate Transparency's idea in miniature.

Every audit entry commits to the one before it: its ``digest`` is the SHA-256 of
its own canonical form, which includes the previous entry's digest (``prev``).
Changing, inserting or deleting a row therefore breaks every digest after it, and
:func:`verify` (a pure function over the rows; any reader can run it offline on an
export) names the first row that does not fit::

    GENESIS ──► entry 1 ──► entry 2 ──► … ──► entry n   (the head: seq n, digest)
                prev=G      prev=d1            prev=d(n-1)

A chain alone cannot show that its *newest* rows were cut off (what is left is a
valid shorter chain). That is what a :class:`Checkpoint` is for: the head (sequence
number and digest) signed by the instance key, kept outside the database (printed,
mailed, filed with a regulator). Verifying against a checkpoint also proves that
nothing up to it was rewritten.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
"""The ``prev`` of the first entry of a chain."""


@dataclass(frozen=True)
class AuditEntry:
    """One recorded change: who did what to which thing, and when."""

    seq: int
    at: datetime
    tenant_id: str
    actor: str
    entity: str
    entity_id: str
    action: str
    data: Mapping[str, Any] = field(default_factory=dict)
    prev: str = GENESIS
    digest: str = ""


def canonical(entry: AuditEntry) -> bytes:
    """The bytes an entry's digest covers: every field but the digest, in one fixed form."""
    at = entry.at if entry.at.tzinfo is not None else entry.at.replace(tzinfo=UTC)
    body = {
        "seq": entry.seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "tenant_id": entry.tenant_id,
        "actor": entry.actor,
        "entity": entry.entity,
        "entity_id": entry.entity_id,
        "action": entry.action,
        "data": entry.data,
        "prev": entry.prev,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_of(entry: AuditEntry) -> str:
    """The digest ``entry`` must carry."""
    return hashlib.sha256(canonical(entry)).hexdigest()


def seal(entry: AuditEntry) -> AuditEntry:
    """``entry`` with its digest filled in (its ``prev`` must already be set)."""
    return AuditEntry(
        seq=entry.seq,
        at=entry.at,
        tenant_id=entry.tenant_id,
        actor=entry.actor,
        entity=entry.entity,
        entity_id=entry.entity_id,
        action=entry.action,
        data=entry.data,
        prev=entry.prev,
        digest=digest_of(entry),
    )


@dataclass(frozen=True)
class Checkpoint:
    """A chain's head at one moment: what a later verification must still find."""

    seq: int
    digest: str


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify` found: ``ok``, or the first bad row and why."""

    ok: bool
    checked: int
    head: Checkpoint | None
    first_bad_seq: int | None = None
    reason: str | None = None


def verify(entries: Iterable[AuditEntry], checkpoint: Checkpoint | None = None) -> ChainReport:
    """Check a whole chain, given in ``seq`` order, optionally against a saved head.

    Sequence numbers must run 1, 2, 3, … without gaps (a deleted row leaves one),
    each ``prev`` must be the digest before it and each digest must match its row.
    """
    prev = GENESIS
    expected_seq = 1
    checked = 0
    head: Checkpoint | None = None
    at_checkpoint: str | None = None
    for entry in entries:
        if entry.seq != expected_seq:
            missing = "missing" if entry.seq > expected_seq else "out of order or repeated"
            return ChainReport(
                False,
                checked,
                head,
                expected_seq,
                f"row {expected_seq} is {missing} (found row {entry.seq} next)",
            )
        if entry.prev != prev:
            return ChainReport(
                False,
                checked,
                head,
                entry.seq,
                f"row {entry.seq} does not follow row {entry.seq - 1}: the previous "
                "row was changed or replaced",
            )
        if digest_of(entry) != entry.digest:
            return ChainReport(
                False,
                checked,
                head,
                entry.seq,
                f"row {entry.seq} was altered after it was written (its digest does not match)",
            )
        prev = entry.digest
        checked += 1
        expected_seq += 1
        head = Checkpoint(entry.seq, entry.digest)
        if checkpoint is not None and entry.seq == checkpoint.seq:
            at_checkpoint = entry.digest
    if checkpoint is not None:
        if at_checkpoint is None:
            return ChainReport(
                False,
                checked,
                head,
                checked + 1,
                f"the chain ends at row {checked} but the checkpoint names row "
                f"{checkpoint.seq}: rows were deleted",
            )
        if at_checkpoint != checkpoint.digest:
            return ChainReport(
                False,
                checked,
                head,
                checkpoint.seq,
                f"row {checkpoint.seq} differs from the checkpoint: the chain was rewritten",
            )
    return ChainReport(True, checked, head)

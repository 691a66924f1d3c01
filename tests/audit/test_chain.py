"""The audit hash chain: any edit, insertion or deletion is found and named."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from jikimi.audit.chain import GENESIS, AuditEntry, Checkpoint, seal, verify


def _chain(n: int) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    prev = GENESIS
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    for i in range(1, n + 1):
        e = seal(
            AuditEntry(
                seq=i,
                at=t0 + timedelta(minutes=i),
                tenant_id="ten_1",
                actor="key_1",
                entity="case",
                entity_id=f"case_{i % 3}",
                action="status",
                data={"to": "open", "n": i, "text": "학생 A"},
                prev=prev,
            )
        )
        out.append(e)
        prev = e.digest
    return out


def test_a_whole_chain_verifies() -> None:
    report = verify(_chain(10))
    assert report.ok and report.checked == 10
    assert report.head is not None and report.head.seq == 10


def test_empty_chain_is_fine() -> None:
    assert verify([]).ok


def test_an_edited_field_is_named() -> None:
    rows = _chain(10)
    rows[4] = dataclasses.replace(rows[4], data={"to": "closed"})
    report = verify(rows)
    assert not report.ok and report.first_bad_seq == 5
    assert "altered" in (report.reason or "")


def test_an_edited_and_resealed_row_breaks_the_next_link() -> None:
    rows = _chain(10)
    rows[4] = seal(dataclasses.replace(rows[4], actor="key_evil"))
    report = verify(rows)
    assert not report.ok and report.first_bad_seq == 6


def test_a_deleted_row_is_named() -> None:
    rows = _chain(10)
    del rows[3]
    report = verify(rows)
    assert not report.ok and report.first_bad_seq == 4
    assert "missing" in (report.reason or "")


def test_deleted_newest_rows_need_the_checkpoint() -> None:
    rows = _chain(10)
    cp = Checkpoint(10, rows[-1].digest)
    assert verify(rows[:8]).ok  # a shorter chain is still a chain...
    report = verify(rows[:8], cp)  # ...but not the one the checkpoint saw
    assert not report.ok and "deleted" in (report.reason or "")


def test_rewritten_history_fails_the_checkpoint() -> None:
    rows = _chain(5)
    cp = Checkpoint(5, rows[-1].digest)
    forged = _chain(5)
    forged[0] = seal(dataclasses.replace(forged[0], actor="other"))
    prev = forged[0].digest
    for i in range(1, 5):
        forged[i] = seal(dataclasses.replace(forged[i], prev=prev))
        prev = forged[i].digest
    assert verify(forged).ok
    assert not verify(forged, cp).ok


def test_naive_and_aware_times_give_one_digest() -> None:
    e = _chain(1)[0]
    naive = dataclasses.replace(e, at=e.at.replace(tzinfo=None))
    assert seal(naive).digest == e.digest

"""The audit log in the database: appends chain; direct edits and deletes are caught."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from jikimi.audit.chain import ChainReport, Checkpoint, verify
from jikimi.store import Store
from jikimi.store import audit as repo


def _fill(store: Store, n: int) -> None:
    for i in range(n):
        with store.session(write=True) as s, s.begin():
            repo.append(
                s,
                tenant_id="ten_a" if i % 2 else "ten_b",
                actor="key_1",
                entity="case",
                entity_id="case_1",
                action="status",
                data={"i": i, "to": "open"},
                at=datetime.now(UTC),
            )


def _verify(store: Store, checkpoint: Checkpoint | None = None) -> ChainReport:
    with store.session() as s:
        return verify(repo.iter_all(s, page=3), checkpoint)


def test_appends_form_a_valid_chain(store: Store) -> None:
    _fill(store, 7)
    report = _verify(store)
    assert report.ok and report.checked == 7
    with store.session() as s:
        assert repo.head(s)[0] == 7
        assert len(repo.history(s, "ten_a", "case", "case_1")) == 3


def test_a_direct_edit_is_caught(store: Store) -> None:
    _fill(store, 6)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'key_evil' WHERE seq = 3"))
    report = _verify(store)
    assert not report.ok and report.first_bad_seq == 3


def test_a_direct_delete_is_caught(store: Store) -> None:
    _fill(store, 6)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 4"))
    report = _verify(store)
    assert not report.ok and report.first_bad_seq == 4


def test_deleting_the_newest_rows_is_caught_by_the_checkpoint(store: Store) -> None:
    _fill(store, 6)
    with store.session() as s:
        seq, digest = repo.head(s)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq >= 5"))
    assert not _verify(store, Checkpoint(seq, digest)).ok

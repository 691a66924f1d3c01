"""The outbox: one holder per row, idempotent keys, retries, lapsed leases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jikimi.store import Store
from jikimi.store import outbox as repo

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def _enqueue(store: Store, key: str, not_before: datetime | None = None) -> bool:
    with store.session(write=True) as s, s.begin():
        return repo.enqueue(
            s,
            tenant_id="ten_1",
            kind="send_notice",
            key=key,
            payload={"n": key},
            at=T0,
            not_before=not_before,
        )


def test_a_key_is_queued_once(store: Store) -> None:
    assert _enqueue(store, "notice:1")
    assert not _enqueue(store, "notice:1")


def test_one_holder_per_row_and_complete_once(store: Store) -> None:
    _enqueue(store, "notice:1")
    with store.session(write=True) as s, s.begin():
        a = repo.claim(s, "proc-a", T0, LEASE)
    with store.session(write=True) as s, s.begin():
        b = repo.claim(s, "proc-b", T0, LEASE)
    assert a is not None and a.attempts == 1 and b is None
    with store.session(write=True) as s, s.begin():
        assert not repo.complete(s, a.id, "proc-b", T0)
        assert repo.complete(s, a.id, "proc-a", T0)
    with store.session(write=True) as s, s.begin():
        assert repo.claim(s, "proc-b", T0 + timedelta(days=1), LEASE) is None


def test_a_lapsed_lease_is_taken_over_and_the_old_holder_cannot_complete(store: Store) -> None:
    _enqueue(store, "notice:1")
    with store.session(write=True) as s, s.begin():
        a = repo.claim(s, "proc-a", T0, LEASE)
    later = T0 + LEASE + timedelta(seconds=1)
    with store.session(write=True) as s, s.begin():
        b = repo.claim(s, "proc-b", later, LEASE)
    assert a is not None and b is not None and b.id == a.id and b.attempts == 2
    with store.session(write=True) as s, s.begin():
        assert not repo.complete(s, a.id, "proc-a", later)
        assert repo.complete(s, b.id, "proc-b", later)


def test_retry_backs_off_and_give_up_is_final(store: Store) -> None:
    _enqueue(store, "notice:1")
    with store.session(write=True) as s, s.begin():
        a = repo.claim(s, "p", T0, LEASE)
        assert a is not None
        assert repo.retry(s, a.id, "p", "smtp down", T0 + timedelta(minutes=5))
    with store.session(write=True) as s, s.begin():
        assert repo.claim(s, "p", T0 + timedelta(minutes=4), LEASE) is None
        again = repo.claim(s, "p", T0 + timedelta(minutes=5), LEASE)
        assert again is not None and again.last_error == "smtp down"
        assert repo.give_up(s, again.id, "p", "refused", T0)
    with store.session() as s:
        item = repo.get(s, "notice:1")
        assert item is not None and item.state == repo.FAILED


def test_not_before_delays_the_first_claim(store: Store) -> None:
    _enqueue(store, "recheck:1", not_before=T0 + timedelta(hours=1))
    with store.session(write=True) as s, s.begin():
        assert repo.claim(s, "p", T0, LEASE) is None
        assert repo.claim(s, "p", T0 + timedelta(hours=1), LEASE) is not None

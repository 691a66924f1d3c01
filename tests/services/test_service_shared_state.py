"""What replicas share through the database: leases, watermarks, pinned keys, attempt counts.

Two service objects on one store stand for two processes (the two-process test
in ``tests/replicas`` runs real ones); every case runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jikimi.config import Settings
from jikimi.errors import ConfigError, TooManyAttempts
from jikimi.services.casereports import SharedAttemptLimiter
from jikimi.services.replicas import pin_key_fingerprints
from jikimi.services.retro import LEASE, RetroMatcher
from jikimi.store import Store
from jikimi.store import shared as repo

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_a_lease_is_held_by_one_owner_until_it_lapses_or_is_released(store: Store) -> None:
    with store.session(write=True) as s, s.begin():
        assert repo.take_lease(s, "lease:x", "a", T0, T0 + timedelta(seconds=10))
        assert not repo.take_lease(s, "lease:x", "b", T0, T0 + timedelta(seconds=10))
        assert repo.take_lease(
            s, "lease:x", "a", T0 + timedelta(seconds=5), T0 + timedelta(seconds=15)
        )
        assert repo.lease_owner(s, "lease:x", T0 + timedelta(seconds=14)) == "a"
        # a lapsed, b takes over; a's fenced write is refused from then on
        later = T0 + timedelta(seconds=16)
        assert repo.take_lease(s, "lease:x", "b", later, later + timedelta(seconds=10))
        assert not repo.save_if_held(s, "mark", "7", "lease:x", "a", later)
        assert repo.save_if_held(s, "mark", "9", "lease:x", "b", later)
        assert repo.get_value(s, "mark") == "9"
        assert not repo.release_lease(s, "lease:x", "a", later)
        assert repo.release_lease(s, "lease:x", "b", later)
        assert repo.lease_owner(s, "lease:x", later) is None
        assert repo.take_lease(s, "lease:x", "a", later, later + timedelta(seconds=10))


def test_retroactive_matching_is_done_by_the_lease_holder_only(
    store: Store, settings: Settings
) -> None:
    fast = settings.model_copy(update={"retro_settle_s": 0.0})
    first, second = RetroMatcher(store, fast, owner="p1"), RetroMatcher(store, fast, owner="p2")
    assert first.holds_lease() and not second.holds_lease()
    assert second.run_once() is False  # it does not even look
    mark = first.watermark()
    assert second.watermark() == mark  # one watermark for both, in the database
    first.set_watermark(mark + 5)
    assert second.watermark() == mark + 5
    first.close()  # releases: the other takes over without waiting for the lapse
    assert second.holds_lease()
    with store.session() as s:
        assert repo.lease_owner(s, LEASE, datetime.now(UTC)) == "p2"
    second.close()


def test_the_first_key_fingerprint_is_pinned_and_others_are_refused(store: Store) -> None:
    pin_key_fingerprints(store, {"evidence": "aaaa", "instance": "bbbb"})
    pin_key_fingerprints(store, {"evidence": "aaaa", "instance": "bbbb"})  # the same: fine
    with pytest.raises(ConfigError, match="JIKIMI_INSTANCE_KEY"):
        pin_key_fingerprints(store, {"evidence": "aaaa", "instance": "cccc"})
    with pytest.raises(ConfigError, match="JIKIMI_EVIDENCE_KEY"):
        pin_key_fingerprints(store, {"evidence": "dddd"})


def test_failed_attempts_count_across_processes_within_the_window(store: Store) -> None:
    clock = [T0]
    a = SharedAttemptLimiter(store, limit=3, window_s=60, clock=lambda: clock[0])
    b = SharedAttemptLimiter(store, limit=3, window_s=60, clock=lambda: clock[0])
    for limiter in (a, b, a):
        limiter.check("number:ZZ-1", "client:1.2.3.4")
        limiter.failed("number:ZZ-1", "client:1.2.3.4")
    with pytest.raises(TooManyAttempts):
        b.check("number:ZZ-1")  # three failures, two of them through the other process
    with pytest.raises(TooManyAttempts):
        b.check("client:1.2.3.4", "number:other")  # any key over the limit
    b.check("number:other", "client:5.6.7.8")  # others are unaffected
    clock[0] = T0 + timedelta(seconds=61)
    a.check("number:ZZ-1")  # the window has passed

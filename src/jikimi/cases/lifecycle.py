"""The lifecycles of a case, an item and a notice, as data.

Each noun has one transition table (state → the states it may move to). Services
call :func:`check_move` before they change a status, and record every move in the
audit log; nothing else compares statuses to decide what may happen next.

A case::

    open ──► closed ──► open        (re-opened when something reappears)

An item (one place a victim's image was posted)::

    unreachable ◄──► pending ──► notified ──► removed ──► reappeared ──► notified …
         │              │            │  ▲
         └──────────────┴────────────┴──┴──► withdrawn   (a caseworker's mistake; final)

- ``pending``: captured (or a hash a victim sent), no notice sent yet;
- ``unreachable``: the URL could not be fetched; it is retried and moves to pending;
- ``notified``: a sent notice lists it; its deadline clock runs;
- ``removed``: a re-check found it gone; time to removal is recorded;
- ``reappeared``: its hashes were seen again (a scan, ``/v1/match``, a re-check).

A notice (one request to one host)::

    draft ──► approved ──► sending ──► sent ──► acknowledged
      │          │            │          │
      ▼          ▼            ▼          └──► failed
    discarded  discarded    failed ──► approved   (a person decides to try again)

Nothing is sent without ``approved``, and (unless the tenant turns the rule off)
the key that approves is not the key that drafted.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from jikimi.errors import Conflict


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ItemStatus(StrEnum):
    PENDING = "pending"
    UNREACHABLE = "unreachable"
    NOTIFIED = "notified"
    REMOVED = "removed"
    REAPPEARED = "reappeared"
    WITHDRAWN = "withdrawn"


class NoticeState(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"
    DISCARDED = "discarded"


CASE_MOVES: Mapping[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.OPEN: frozenset({CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset({CaseStatus.OPEN}),
}

ITEM_MOVES: Mapping[ItemStatus, frozenset[ItemStatus]] = {
    ItemStatus.PENDING: frozenset(
        {ItemStatus.NOTIFIED, ItemStatus.UNREACHABLE, ItemStatus.REMOVED, ItemStatus.WITHDRAWN}
    ),
    ItemStatus.UNREACHABLE: frozenset(
        {ItemStatus.PENDING, ItemStatus.NOTIFIED, ItemStatus.REMOVED, ItemStatus.WITHDRAWN}
    ),
    ItemStatus.NOTIFIED: frozenset(
        {ItemStatus.REMOVED, ItemStatus.REAPPEARED, ItemStatus.NOTIFIED, ItemStatus.WITHDRAWN}
    ),
    ItemStatus.REMOVED: frozenset({ItemStatus.REAPPEARED, ItemStatus.WITHDRAWN}),
    ItemStatus.REAPPEARED: frozenset(
        {ItemStatus.NOTIFIED, ItemStatus.REMOVED, ItemStatus.WITHDRAWN}
    ),
    ItemStatus.WITHDRAWN: frozenset(),
}

NOTICE_MOVES: Mapping[NoticeState, frozenset[NoticeState]] = {
    NoticeState.DRAFT: frozenset({NoticeState.APPROVED, NoticeState.DISCARDED}),
    NoticeState.APPROVED: frozenset({NoticeState.SENDING, NoticeState.DISCARDED}),
    NoticeState.SENDING: frozenset({NoticeState.SENT, NoticeState.FAILED}),
    NoticeState.SENT: frozenset({NoticeState.ACKNOWLEDGED, NoticeState.FAILED}),
    NoticeState.ACKNOWLEDGED: frozenset(),
    NoticeState.FAILED: frozenset({NoticeState.APPROVED}),
    NoticeState.DISCARDED: frozenset(),
}


S = TypeVar("S", CaseStatus, ItemStatus, NoticeState)


def check_move(table: Mapping[S, frozenset[S]], noun: str, old: S, new: S) -> None:
    """Raise :class:`Conflict` unless ``old → new`` is in ``table``."""
    if new not in table[old]:
        allowed = ", ".join(sorted(s.value for s in table[old])) or "nothing (final)"
        raise Conflict(
            f"a {noun} that is {old.value} cannot become {new.value} (allowed: {allowed})"
        )

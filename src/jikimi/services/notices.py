"""Notices as a service: draft, approve (four eyes), send through the outbox.

::

    draft(case, host)  ── one notice listing the case's items at that host that wait
                          for one (pending, reappeared), rendered in the host's language
    approve(notice)    ── another key than the drafter's (unless notice_four_eyes is off)
    send(notice)       ── approved → sending, and an outbox row in the same transaction;
                          the deliverer (jikimi.services.delivery) does the sending
    mark_sent(notice)  ── for hosts that take requests only by web form: a person
                          submitted the text by hand and says so

Nothing leaves jikimi without ``approved``: the only way to the outbox is
:meth:`NoticeService.send`, and it checks the state in the transaction that queues.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jikimi.cases.lifecycle import ITEM_MOVES, NOTICE_MOVES, ItemStatus, NoticeState, check_move
from jikimi.cases.types import Case, ContactKind, Host, Item, Notice
from jikimi.domain import Permission, Principal, limits
from jikimi.errors import Forbidden, InvalidInput, NotFound
from jikimi.ids import new_id
from jikimi.notices import LegalBasis, NoticeItem, NoticeRenderer, Sender
from jikimi.services._common import now, require
from jikimi.services.cases import audit
from jikimi.store import Store, outbox
from jikimi.store import audit as audit_repo
from jikimi.store import casework as repo

SEND_NOTICE = "send_notice"
WAITING = (ItemStatus.PENDING, ItemStatus.REAPPEARED)
"""Items a new notice lists: not notified yet, or back after a removal."""


@dataclass(frozen=True)
class NoticeOptions:
    sender: Sender
    four_eyes: bool = True


def _notice_item(item: Item, handle: str | None) -> NoticeItem:
    captured = None if not item.capture else str(item.capture.get("finished_at") or "") or None
    return NoticeItem(
        url=item.url,
        signals=[dict(s) for s in item.signals],
        source=handle,
        captured_at=captured or item.created_at.isoformat(timespec="seconds"),
        evidence_sha256=item.evidence_sha256,
    )


class NoticeService:
    def __init__(self, store: Store, renderer: NoticeRenderer, options: NoticeOptions) -> None:
        self.store = store
        self.renderer = renderer
        self.options = options

    def draft(
        self,
        principal: Principal,
        case_id: str,
        host_slug: str,
        bases: Sequence[str] | None = None,
    ) -> Notice:
        require(principal, Permission.CASE_WRITE)
        at = now()
        with self.store.session(write=True) as s, s.begin():
            case = repo.get_case(s, principal.tenant_id, case_id)
            if case is None:
                raise NotFound(f"no case {case_id!r}")
            host = repo.get_host(s, principal.tenant_id, host_slug)
            if host is None:
                raise NotFound(f"no host {host_slug!r}")
            return self.draft_in(s, principal.tenant_id, principal.key_id, case, host, bases, at)

    def draft_in(
        self,
        s: Any,
        tenant_id: str,
        actor: str,
        case: Case,
        host: Host,
        bases: Sequence[str] | None,
        at: datetime,
    ) -> Notice:
        """Draft in the caller's transaction (also used for re-uploads, by the system)."""
        if not host.contacts:
            raise InvalidInput(
                f"host {host.slug} has no contact channel: add an e-mail, API or form first"
            )
        chosen = tuple(LegalBasis.parse(b) for b in (bases or host.bases))
        items = repo.list_items(s, tenant_id, case_id=case.id, host_id=host.id, statuses=WAITING)
        if not items:
            raise InvalidInput(
                f"case {case.number} has no items at {host.slug} waiting for a notice"
            )
        return self._compose(s, tenant_id, actor, case, host, chosen, items, at)

    def draft_follow_up_in(
        self,
        s: Any,
        tenant_id: str,
        actor: str,
        previous: Notice,
        items: Sequence[Item],
        at: datetime,
    ) -> Notice:
        """In the caller's transaction: a reminder of ``previous`` (sent, its deadline
        passed) listing the ``items`` still up; a draft, approved by a person like any.

        Sending it does not restart the items' clocks: they keep the first notice's
        deadline, which is the one that was missed.
        """
        case = repo.get_case(s, tenant_id, previous.case_id)
        host = repo.get_host(s, tenant_id, previous.host_id)
        if case is None or host is None:
            raise NotFound(f"notice {previous.id} has no case or host any more")
        if not host.contacts:
            raise InvalidInput(
                f"host {host.slug} has no contact channel: add an e-mail, API or form first"
            )
        chosen = tuple(LegalBasis.parse(b) for b in previous.bases)
        follow_up = {
            "notice": previous.id,
            "sent": _stamp(previous.sent_at),
            "deadline": _stamp(previous.deadline_at),
            "regulator": "" if host.regulator is None else str(host.regulator),
        }
        return self._compose(
            s, tenant_id, actor, case, host, chosen, list(items), at, follow_up=follow_up
        )

    def _compose(
        self,
        s: Any,
        tenant_id: str,
        actor: str,
        case: Case,
        host: Host,
        chosen: Sequence[LegalBasis],
        items: Sequence[Item],
        at: datetime,
        *,
        follow_up: Mapping[str, str] | None = None,
    ) -> Notice:
        handles = {}
        for item in items:
            if item.source_id and item.source_id not in handles:
                found = repo.get_source(s, tenant_id, item.source_id)
                handles[item.source_id] = None if found is None else found.handle
        notice_id = new_id("notice")  # the text names it: rendered first, written once
        copy_to = host.regulator if follow_up else None
        rendered = self.renderer.render(
            language=host.language,
            host_name=host.name,
            items=[_notice_item(i, handles.get(i.source_id or "")) for i in items],
            bases=chosen,
            sender=self.options.sender,
            notice_id=notice_id,
            case_number=case.number,
            follow_up=follow_up,
        )
        notice = repo.create_notice(
            s,
            tenant_id=tenant_id,
            case_id=case.id,
            host_id=host.id,
            at=at,
            notice_id=notice_id,
            bases=[b.value for b in chosen],
            language=rendered.language,
            language_fallback=rendered.fallback,
            subject=rendered.subject,
            body=rendered.body,
            item_ids=[i.id for i in items],
            drafted_by=actor,
            copy_to=copy_to.model_dump(mode="json") if copy_to is not None else None,
        )
        audit_repo.append(
            s,
            tenant_id=tenant_id,
            actor=actor,
            entity="notice",
            entity_id=notice.id,
            action="draft",
            data={
                "case": case.id,
                "host": host.slug,
                "items": list(notice.item_ids),
                "bases": list(notice.bases),
                "language": rendered.language,
                "language_fallback": rendered.fallback,
                **({"follow_up_of": follow_up["notice"]} if follow_up else {}),
                **({"copy_to": str(copy_to)} if copy_to is not None else {}),
            },
            at=at,
        )
        return notice

    def get(self, principal: Principal, notice_id: str) -> Notice:
        require(principal, Permission.CASE_READ)
        with self.store.session() as s:
            notice = repo.get_notice(s, principal.tenant_id, notice_id)
        if notice is None:
            raise NotFound(f"no notice {notice_id!r}")
        return notice

    def list(self, principal: Principal, case_id: str | None = None) -> builtins.list[Notice]:
        require(principal, Permission.CASE_READ)
        with self.store.session() as s:
            return repo.list_notices(s, principal.tenant_id, case_id)

    def approve(self, principal: Principal, notice_id: str) -> Notice:
        require(principal, Permission.NOTICE_APPROVE)
        return self._move(
            principal,
            notice_id,
            NoticeState.APPROVED,
            "approve",
            check=self._four_eyes,
            values=lambda n: {"approved_by": principal.key_id, "failure": None},
        )

    def discard(self, principal: Principal, notice_id: str) -> Notice:
        require(principal, Permission.CASE_WRITE)
        return self._move(principal, notice_id, NoticeState.DISCARDED, "discard")

    def send(self, principal: Principal, notice_id: str) -> Notice:
        """Queue an approved notice for delivery (the deliverer sends it)."""
        require(principal, Permission.CASE_WRITE)
        at = now()
        with self.store.session(write=True) as s, s.begin():
            notice = self._load(s, principal, notice_id)
            host = repo.get_host(s, principal.tenant_id, notice.host_id)
            assert host is not None
            channel = deliverable_channel(host)
            if channel is None:
                form = next((c.value for c in host.contacts if c.kind is ContactKind.FORM), "")
                raise InvalidInput(
                    f"{host.name} takes requests only through its web form ({form}): submit the "
                    f"text there, then run `jikimi notice mark-sent {notice.id}`"
                )
            check_move(NOTICE_MOVES, "notice", notice.state, NoticeState.SENDING)
            copy = notice.copy_to.email if notice.copy_to is not None else None
            if channel["kind"] == ContactKind.EMAIL.value and copy is not None:
                channel["cc"] = copy  # a follow-up copies the host's regulator
            sends = sum(1 for _ in _sends(s, principal, notice.id))
            key = f"notice:{notice.id}:{sends + 1}"
            outbox.enqueue(
                s,
                tenant_id=principal.tenant_id,
                kind=SEND_NOTICE,
                key=key,
                payload={"notice": notice.id, "channel": channel},
                at=at,
            )
            notice = repo.update_notice(
                s,
                principal.tenant_id,
                notice.id,
                at,
                state=NoticeState.SENDING.value,
                channel={
                    "kind": channel["kind"],
                    "to": channel["value"],
                    "key": key,
                    **({"cc": channel["cc"]} if "cc" in channel else {}),
                },
            )
            audit(
                s,
                principal,
                "notice",
                notice.id,
                "send",
                {
                    "channel": channel["kind"],
                    "key": key,
                    **({"cc": channel["cc"]} if "cc" in channel else {}),
                },
                at,
            )
        return notice

    def mark_sent(self, principal: Principal, notice_id: str, note: str | None = None) -> Notice:
        """A person submitted the notice by hand (a web form): start its clocks."""
        require(principal, Permission.CASE_WRITE)
        if note is not None:
            note = limits.check("remark", note, name="note")
        at = now()
        with self.store.session(write=True) as s, s.begin():
            notice = self._load(s, principal, notice_id)
            check_move(NOTICE_MOVES, "notice", notice.state, NoticeState.SENDING)
            repo.update_notice(
                s,
                principal.tenant_id,
                notice.id,
                at,
                state=NoticeState.SENDING.value,
                channel={"kind": "form", "note": note},
            )
            audit(s, principal, "notice", notice.id, "send", {"channel": "form", "note": note}, at)
            return mark_delivered(
                s,
                principal.tenant_id,
                notice.id,
                principal.key_id,
                at,
                self.renderer.deadline_hours,
            )

    # --- helpers ---------------------------------------------------------------------

    def _four_eyes(self, principal: Principal, notice: Notice) -> None:
        if self.options.four_eyes and notice.drafted_by == principal.key_id:
            raise Forbidden("a notice must be approved by another key than the one that drafted it")

    def _load(self, s: Any, principal: Principal, notice_id: str) -> Notice:
        notice = repo.get_notice(s, principal.tenant_id, notice_id)
        if notice is None:
            raise NotFound(f"no notice {notice_id!r}")
        return notice

    def _move(
        self,
        principal: Principal,
        notice_id: str,
        state: NoticeState,
        action: str,
        *,
        check: Any = None,
        values: Any = None,
    ) -> Notice:
        at = now()
        with self.store.session(write=True) as s, s.begin():
            notice = self._load(s, principal, notice_id)
            check_move(NOTICE_MOVES, "notice", notice.state, state)
            if check is not None:
                check(principal, notice)
            extra = values(notice) if values is not None else {}
            notice = repo.update_notice(
                s, principal.tenant_id, notice_id, at, state=state.value, **extra
            )
            audit(s, principal, "notice", notice_id, action, {"to": state.value}, at)
        return notice


def _sends(s: Any, principal: Principal, notice_id: str) -> builtins.list[Any]:
    return [
        e
        for e in audit_repo.history(s, principal.tenant_id, "notice", notice_id)
        if e.action == "send"
    ]


def _stamp(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M")


def deliverable_channel(host: Host) -> dict[str, str] | None:
    """The channel a deliverer can use (API first, then e-mail); ``None`` for form-only hosts."""
    for kind in (ContactKind.API, ContactKind.EMAIL):
        for contact in host.contacts:
            if contact.kind is kind:
                return {"kind": kind.value, "value": contact.value}
    return None


def mark_delivered(
    s: Any,
    tenant_id: str,
    notice_id: str,
    actor: str,
    at: datetime,
    deadline_hours: Any,
) -> Notice:
    """A notice reached its host: sent, its items notified, their deadline clocks started.

    Also queues each item's first re-check. Runs in the caller's transaction (the
    deliverer's, or ``mark_sent``'s), with the audit rows of every move.
    """
    notice = repo.get_notice(s, tenant_id, notice_id)
    assert notice is not None
    check_move(NOTICE_MOVES, "notice", notice.state, NoticeState.SENT)
    hours = min(
        (deadline_hours[LegalBasis(b)] for b in notice.bases if b in {x.value for x in LegalBasis}),
        default=48,
    )
    deadline = at + timedelta(hours=hours)
    notice = repo.update_notice(
        s, tenant_id, notice_id, at, state=NoticeState.SENT.value, sent_at=at, deadline_at=deadline
    )
    changes = [
        audit_repo.Change(
            tenant_id, actor, "notice", notice_id, "sent", {"deadline_at": deadline.isoformat()}, at
        )
    ]
    checks: list[outbox.Consequence] = []
    items = repo.get_items(s, tenant_id, notice.item_ids)  # one read, then plain updates
    for item_id in notice.item_ids:
        item = items.get(item_id)
        if item is None or ItemStatus.NOTIFIED not in ITEM_MOVES[item.status]:
            continue
        if item.status is ItemStatus.NOTIFIED and item.notified_at is not None:
            continue  # a follow-up: the item keeps the clock of the notice it missed
        repo.set_item(
            s,
            tenant_id,
            item_id,
            at,
            status=ItemStatus.NOTIFIED.value,
            notified_at=at,
            deadline_at=deadline,
        )
        changes.append(
            audit_repo.Change(
                tenant_id,
                actor,
                "item",
                item_id,
                "status",
                {"to": "notified", "notice": notice_id},
                at,
            )
        )
        if item.url:
            payload = {"item": item_id, "notice": notice_id}
            checks.append(
                outbox.Consequence(
                    tenant_id,
                    "recheck",
                    f"recheck:{item_id}:{notice_id}:1",
                    {**payload, "n": 1},
                    at + timedelta(hours=1),
                )
            )
            # and one just before the deadline, so that a removal is known to have
            # come in time (or not) whatever the schedule's steps; the schedule
            # goes on from there (its next key is already queued)
            checks.append(
                outbox.Consequence(
                    tenant_id,
                    "recheck",
                    f"recheck:{item_id}:{notice_id}:deadline",
                    {**payload, "n": 0, "at_deadline": True},
                    deadline - timedelta(minutes=5),
                )
            )
    audit_repo.append_many(s, changes)  # the notice's row first, then its items', in order
    outbox.enqueue_many(s, checks, at)
    return notice

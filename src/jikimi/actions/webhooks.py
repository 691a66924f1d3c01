"""Signed webhooks: a tenant's consequences POSTed to the URL it configured.

One webhook per tenant (``jikimi webhook set``): a URL, the events it wants
(:data:`~jikimi.actions.events.EVENTS`) and a secret shown once at setting. Each
delivery is ``POST <url>`` with a JSON body::

    {"id": "webhook:scan.held:scn_…", "type": "scan.held", "tenant": "tnt_…",
     "created_at": "…", "data": {"scan": "scn_…", "decision": {…}, …}}

and the headers ``X-Jikimi-Timestamp``, ``X-Jikimi-Signature: sha256=<hex of
HMAC-SHA256(secret, "<timestamp>." + body)>`` and ``Idempotency-Key`` (= ``id``),
as for hosts' takedown APIs (:mod:`jikimi.notices.signing`). The URL is held to
the same address policy as evidence capture (no private networks unless
allowed), redirects are not followed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from jikimi.actions.events import EVENTS, events_of
from jikimi.domain import Permission, Principal, Verdict
from jikimi.errors import InvalidInput, NotFound
from jikimi.evidence import Sealer
from jikimi.fetching import FetchFailed, FetchRefused, SafeFetcher
from jikimi.notices import signing
from jikimi.services._common import now, require, runner_id
from jikimi.store import Store, outbox
from jikimi.store import webhooks as repo

KIND = "webhook"
"""Outbox kind of a webhook delivery."""
BACKOFF = (10, 60, 300, 1800, 7200)
"""Seconds before retry n (then the last value again)."""
MAX_ATTEMPTS = 8
MAX_URL = 2048


def _aad(tenant_id: str) -> str:
    return f"webhook-secret:{tenant_id}"


@dataclass(frozen=True)
class WebhookInfo:
    """What a door shows of a webhook (never its secret)."""

    url: str
    events: tuple[str, ...]
    enabled: bool
    updated_at: datetime


@dataclass(frozen=True)
class WebhookSet:
    info: WebhookInfo
    secret: str
    """Shown once, when set: the receiver verifies signatures with it."""


class WebhookService:
    """Set, show and remove a tenant's webhook (admins only)."""

    def __init__(self, store: Store, sealer: Sealer) -> None:
        self.store = store
        self.sealer = sealer

    def set(self, principal: Principal, url: str, events: Sequence[str] = EVENTS) -> WebhookSet:
        require(principal, Permission.KEY_ADMIN)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
            raise InvalidInput(f"a webhook URL is http(s)://host/... of at most {MAX_URL} chars")
        unknown = sorted(set(events) - set(EVENTS))
        if unknown or not events:
            raise InvalidInput(f"events must be some of {', '.join(EVENTS)}; got {unknown}")
        secret = secrets.token_urlsafe(32)
        sealed = self.sealer.seal(secret.encode(), _aad(principal.tenant_id))
        with self.store.session(write=True) as s, s.begin():
            hook = repo.put(s, principal.tenant_id, url, sorted(set(events)), sealed, now())
        return WebhookSet(WebhookInfo(hook.url, hook.events, hook.enabled, hook.updated_at), secret)

    def get(self, principal: Principal) -> WebhookInfo:
        require(principal, Permission.KEY_ADMIN)
        with self.store.session() as s:
            hook = repo.get(s, principal.tenant_id)
        if hook is None:
            raise NotFound("this tenant has no webhook")
        return WebhookInfo(hook.url, hook.events, hook.enabled, hook.updated_at)

    def remove(self, principal: Principal) -> None:
        require(principal, Permission.KEY_ADMIN)
        with self.store.session(write=True) as s, s.begin():
            if not repo.delete(s, principal.tenant_id):
                raise NotFound("this tenant has no webhook")


class ActionRecorder:
    """Writes the consequences of stored Verdicts as outbox rows, in their transaction."""

    def on_stored(self, s: Session, tenant_id: str, verdicts: Sequence[Verdict]) -> None:
        """A tenant store hook (see ``ScanService.on_stored_for``)."""
        hook = repo.get(s, tenant_id)
        if hook is None or not hook.enabled:
            return
        at = now()
        for verdict in verdicts:
            for event, data in events_of(verdict):
                if event in hook.events:
                    outbox.enqueue(
                        s,
                        tenant_id=tenant_id,
                        kind=KIND,
                        key=f"{KIND}:{event}:{verdict.id}",
                        payload={"event": event, "data": data, "at": at.isoformat()},
                        at=at,
                    )


class WebhookDeliverer:
    """Delivers one due webhook row per :meth:`run_once` (any number of processes)."""

    def __init__(
        self,
        store: Store,
        sealer: Sealer,
        fetcher: SafeFetcher,
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=2),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.fetcher = fetcher
        self.owner = owner or runner_id()
        self.lease = lease
        self.clock = clock
        self.delivered = 0
        """Rows this process delivered (tests, metrics)."""

    def run_once(self) -> bool:
        """Deliver the next due webhook; ``False`` when there was none."""
        at = self.clock()
        with self.store.session(write=True) as s, s.begin():
            row = outbox.claim(s, self.owner, at, self.lease, kinds=(KIND,))
            hook = None if row is None else repo.get(s, row.tenant_id)
        if row is None:
            return False
        if hook is None or not hook.enabled:
            with self.store.session(write=True) as s, s.begin():
                outbox.give_up(s, row.id, self.owner, "the tenant has no webhook any more", at)
            return True
        body = json.dumps(
            {
                "id": row.key,
                "type": row.payload["event"],
                "tenant": row.tenant_id,
                "created_at": row.payload["at"],
                "data": row.payload["data"],
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        secret = self.sealer.open(hook.secret_sealed, _aad(row.tenant_id))
        stamp = int(at.timestamp())
        headers = {
            "Content-Type": "application/json",
            signing.TIMESTAMP: str(stamp),
            signing.SIGNATURE: signing.sign(secret, stamp, body),
            signing.IDEMPOTENCY: row.key,
        }
        try:
            answer = self.fetcher.post(hook.url, body, headers)
        except FetchRefused as exc:  # the address policy: trying again will not help
            return self._failed(row.id, exc.message, permanent=True)
        except FetchFailed as exc:
            return self._failed(
                row.id, exc.message, permanent=row.attempts >= MAX_ATTEMPTS, attempts=row.attempts
            )
        if 200 <= answer.status < 300:
            with self.store.session(write=True) as s, s.begin():
                if outbox.complete(s, row.id, self.owner, self.clock()):
                    self.delivered += 1
            return True
        permanent = 400 <= answer.status < 500 and answer.status not in (408, 429)
        return self._failed(
            row.id,
            f"{hook.url} answered {answer.status}",
            permanent=permanent or row.attempts >= MAX_ATTEMPTS,
            attempts=row.attempts,
        )

    def _failed(self, row_id: int, error: str, *, permanent: bool, attempts: int = 1) -> bool:
        at = self.clock()
        with self.store.session(write=True) as s, s.begin():
            if permanent:
                outbox.give_up(s, row_id, self.owner, error, at)
            else:
                wait = BACKOFF[min(attempts, len(BACKOFF)) - 1]
                outbox.retry(s, row_id, self.owner, error, at + timedelta(seconds=wait))
        return True

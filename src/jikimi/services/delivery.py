"""The deliverer: drains ``send_notice`` rows of the outbox, by e-mail or a host's API.

Any number of processes may run one; the outbox lease makes sure only one holds a
row at a time. A delivery that fails for a reason that may pass (the mail server
is down, the API answers 5xx or times out) is retried with back-off; one that
cannot succeed (the host refused it with 4xx, a refused address) or that used up
its attempts fails the notice, which a person may approve again.

At most once: the e-mail's ``Message-ID`` and the API call's ``Idempotency-Key``
are the outbox key, so if a process dies after the host took the notice but before
the row was marked done, the repeat a second deliverer makes carries the same key
and the host can drop it. Within jikimi, a row is completed in the transaction
that marks the notice sent, so it is never delivered twice by the outbox itself.
"""

from __future__ import annotations

import json
import smtplib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr

from jikimi.cases.lifecycle import NoticeState
from jikimi.cases.types import Host, Notice
from jikimi.errors import JikimiError
from jikimi.fetching import FetchFailed, SafeFetcher
from jikimi.notices import LegalBasis, Sender, signing
from jikimi.services._common import runner_id
from jikimi.services.notices import SEND_NOTICE, mark_delivered
from jikimi.store import Store, outbox
from jikimi.store import audit as audit_repo
from jikimi.store import casework as repo
from jikimi.store.outbox import OutboxItem

BACKOFF = (60, 300, 1800, 7200, 21600)
"""Seconds before retry n (then the last value again)."""
MAX_ATTEMPTS = 8
ACTOR = "system:deliverer"


class Permanent(JikimiError):
    """A delivery that will not succeed by trying again."""

    code = "delivery_refused"


class Transient(JikimiError):
    code = "delivery_failed"


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout_s: float = 30.0


def smtp_session(smtp: SmtpConfig) -> smtplib.SMTP:
    """A connected (STARTTLS, login) session to the configured server; the caller closes it."""
    session = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
    try:
        if smtp.starttls:
            session.starttls()
        if smtp.user:
            session.login(smtp.user, smtp.password or "")
    except BaseException:
        session.close()
        raise
    return session


class NoticeDeliverer:
    """Delivers one due notice per :meth:`run_once`.

    :meth:`run_until_idle` sends the e-mails of one burst of due notices over one
    SMTP session (a mail server answers each connection with a greeting, EHLO and,
    often, STARTTLS and a login); a session that fails is dropped, and the next
    message opens a new one.
    """

    def __init__(
        self,
        store: Store,
        *,
        sender: Sender,
        smtp: SmtpConfig,
        fetcher: SafeFetcher,
        api_secret: Callable[[str, Host], bytes | None],
        deadline_hours: Mapping[LegalBasis, int],
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=2),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.sender = sender
        self.smtp = smtp
        self.fetcher = fetcher
        self.api_secret = api_secret
        self.deadline_hours = deadline_hours
        self.owner = owner or runner_id()
        self.lease = lease
        self.clock = clock
        self._mail: smtplib.SMTP | None = None
        self._keep_mail = False

    def run_once(self) -> bool:
        """Deliver the next due notice; ``False`` when there was none."""
        at = self.clock()
        with self.store.session() as s:
            if not outbox.anything_due(s, at, (SEND_NOTICE,)):
                return False  # idle: a read, no write lock
        with self.store.session(write=True) as s, s.begin():
            row = outbox.claim(s, self.owner, at, self.lease, kinds=(SEND_NOTICE,))
        if row is None:
            return False
        tenant = row.tenant_id
        with self.store.session() as s:
            notice = repo.get_notice(s, tenant, str(row.payload["notice"]))
            host = None if notice is None else repo.get_host(s, tenant, notice.host_id)
            case = None if notice is None else repo.get_case(s, tenant, notice.case_id)
        if (
            notice is None
            or host is None
            or case is None
            or notice.state is not NoticeState.SENDING
        ):
            with self.store.session(write=True) as s, s.begin():
                outbox.give_up(s, row.id, self.owner, "the notice is gone or not sending", at)
            return True
        try:
            receipt = self._deliver(row, notice, host, case.number)
        except Transient as exc:
            self._failed(row, notice, exc.message, permanent=row.attempts >= MAX_ATTEMPTS)
            return True
        except JikimiError as exc:
            self._failed(row, notice, exc.message, permanent=True)
            return True
        done = self.clock()
        with self.store.session(write=True) as s, s.begin():
            if not outbox.complete(s, row.id, self.owner, done):
                return True  # our lease lapsed; whoever holds it now finishes it
            mark_delivered(s, tenant, notice.id, ACTOR, done, self.deadline_hours)
            audit_repo.append(
                s,
                tenant_id=tenant,
                actor=ACTOR,
                entity="notice",
                entity_id=notice.id,
                action="delivered",
                data=receipt,
                at=done,
            )
        return True

    def run_until_idle(self, limit: int = 10_000) -> int:
        """Deliver everything due now; how many rows were handled."""
        n = 0
        self._keep_mail = True
        try:
            while n < limit and self.run_once():
                n += 1
        finally:
            self._keep_mail = False
            self._drop_mail()
        return n

    def _mail_session(self) -> smtplib.SMTP:
        if self._mail is None:
            self._mail = smtp_session(self.smtp)
        return self._mail

    def _drop_mail(self, *, polite: bool = True) -> None:
        """Close the SMTP session (``QUIT`` when it is still healthy)."""
        mail, self._mail = self._mail, None
        if mail is None:
            return
        try:
            if polite:
                mail.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            mail.close()

    # --- channels ----------------------------------------------------------------------

    def _deliver(
        self, row: OutboxItem, notice: Notice, host: Host, number: str
    ) -> dict[str, object]:
        channel = row.payload["channel"]
        if channel["kind"] == "email":
            cc = channel.get("cc")
            return self._email(
                row.key, notice, str(channel["value"]), None if cc is None else str(cc)
            )
        if channel["kind"] == "api":
            return self._api(row.key, notice, host, number, str(channel["value"]))
        raise Permanent(f"no deliverer for channel {channel['kind']!r}")

    def _email(self, key: str, notice: Notice, to: str, cc: str | None) -> dict[str, object]:
        message = EmailMessage()
        message["From"] = formataddr((self.sender.name, self.sender.email))
        message["To"] = to
        if cc is not None:  # a follow-up copies the host's regulator
            message["Cc"] = cc
        message["Subject"] = notice.subject
        message["Message-ID"] = f"<{key.replace(':', '.')}@jikimi>"
        message["X-Jikimi-Notice"] = notice.id
        message.set_content(notice.body)
        try:
            refused = self._mail_session().send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            self._drop_mail()
            raise Permanent(f"the mail server refused {to}: {exc.recipients}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._drop_mail(polite=False)
            raise Transient(f"SMTP {self.smtp.host}:{self.smtp.port}: {exc}") from exc
        finally:
            if not self._keep_mail:
                self._drop_mail()
        if refused:
            raise Permanent(f"the mail server refused {to}: {refused}")
        receipt: dict[str, object] = {"channel": "email", "to": to}
        if cc is not None:
            receipt["cc"] = cc
        return {**receipt, "message_id": message["Message-ID"]}

    def _api(
        self, key: str, notice: Notice, host: Host, number: str, url: str
    ) -> dict[str, object]:
        secret = self.api_secret(notice.tenant_id, host)
        if secret is None:
            raise Permanent(f"host {host.slug} has an API contact but no shared secret")
        with self.store.session() as s:
            items = [repo.get_item(s, notice.tenant_id, i) for i in notice.item_ids]
        body = json.dumps(
            {
                "notice": notice.id,
                "case": number,
                "language": notice.language,
                "bases": list(notice.bases),
                "subject": notice.subject,
                "text": notice.body,
                "items": [
                    {
                        "id": i.id,
                        "url": i.url,
                        "signals": list(i.signals),
                        "evidence_sha256": i.evidence_sha256,
                    }
                    for i in items
                    if i is not None
                ],
            },
            ensure_ascii=False,
            sort_keys=True,
        ).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            signing.TIMESTAMP: str(timestamp),
            signing.SIGNATURE: signing.sign(secret, timestamp, body),
            signing.IDEMPOTENCY: key,
        }
        try:
            answer = self.fetcher.post(url, body, headers)
        except FetchFailed as exc:
            raise Transient(exc.message) from exc
        if answer.status >= 500 or answer.status == 429:
            raise Transient(f"{url} answered HTTP {answer.status}")
        if answer.status >= 400:
            raise Permanent(f"{url} refused the notice: HTTP {answer.status}")
        return {"channel": "api", "url": url, "status": answer.status}

    def _failed(self, row: OutboxItem, notice: Notice, error: str, *, permanent: bool) -> None:
        at = self.clock()
        with self.store.session(write=True) as s, s.begin():
            if not permanent:
                wait = BACKOFF[min(row.attempts - 1, len(BACKOFF) - 1)]
                outbox.retry(s, row.id, self.owner, error, at + timedelta(seconds=wait))
                audit_repo.append(
                    s,
                    tenant_id=row.tenant_id,
                    actor=ACTOR,
                    entity="notice",
                    entity_id=notice.id,
                    action="retry",
                    data={"error": error, "attempt": row.attempts},
                    at=at,
                )
                return
            if not outbox.give_up(s, row.id, self.owner, error, at):
                return
            repo.update_notice(
                s, row.tenant_id, notice.id, at, state=NoticeState.FAILED.value, failure=error
            )
            audit_repo.append(
                s,
                tenant_id=row.tenant_id,
                actor=ACTOR,
                entity="notice",
                entity_id=notice.id,
                action="failed",
                data={"error": error},
                at=at,
            )

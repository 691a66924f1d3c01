"""E-mail to people with accounts (a password reset link), through the notices' SMTP server.

Kept apart from the notice deliverer: a reset link goes out at once, to one of the
tenant's own people, and is never retried from an outbox (an admin who sees the
failure issues another). The server is used only when the operator configured one
(``smtp_host`` set), because a reset that went to nobody would be shown to nobody.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formataddr
from typing import Protocol

from jikimi.config import Settings
from jikimi.errors import Unavailable
from jikimi.services.delivery import SmtpConfig, smtp_session


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


class SmtpMailer:
    """One message per call; a failure is :class:`~jikimi.errors.Unavailable` (503)."""

    def __init__(self, smtp: SmtpConfig, from_name: str, from_email: str) -> None:
        self.smtp = smtp
        self.sender = formataddr((from_name, from_email))

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer | None:
        """A mailer when the operator named a mail server, else ``None``."""
        if "smtp_host" not in settings.model_fields_set:
            return None
        s = settings
        smtp = SmtpConfig(s.smtp_host, s.smtp_port, s.smtp_starttls, s.smtp_user, s.smtp_password)
        return cls(smtp, s.notice_from_name, s.notice_from_email)

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        try:
            with smtp_session(self.smtp) as smtp:
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise Unavailable(f"the mail server did not take the message: {exc}") from exc

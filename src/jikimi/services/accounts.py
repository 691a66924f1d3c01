"""People's accounts: passwords (argon2), optional TOTP, sessions, lock-out, audit.

API keys stay for machines; a person signs in to the web pages with an e-mail
address and a password, and a TOTP code when she has enrolled one (a tenant may
require one of its reviewers and admins). Every attempt is audited, whether it
succeeds, fails or meets a locked account::

    sign_in(email, password, code)
      ├─ unknown e-mail ─────────► audit "sign_in_failed" (no user) ─► Unauthorized
      ├─ locked_until > now ─────► audit "sign_in_locked" ─────────────► TooManyAttempts
      ├─ bad password or code ───► failed += 1 (at MAX_FAILURES: locked for LOCK_MINUTES)
      │                             audit "sign_in_failed" ─────────────► Unauthorized
      └─ ok ─────────────────────► failed = 0, a session ─► audit "sign_in"

A TOTP code is good once: the step it belongs to is stored and a code of that
step (or an earlier one) is refused. Enrolment hands out ten single-use recovery
codes (shown once, stored hashed), each accepted instead of a TOTP code. A
password is changed by its owner (the old one required; her other sessions end)
or reset through a one-time link an admin or the operator issues (e-mailed when
a mail server is configured, otherwise shown once to the admin); using the link
sets the new password and ends every session. Each of these is audited.

A session id is 256 random bits given to the browser once (a cookie) and stored
only as its SHA-256; its CSRF token is bound to it (a form carries it back). A
signed-in user acts as a :class:`~jikimi.domain.Principal` of her tenant and role
(``key_id`` is her user id), so every service checks the same permissions for a
page as for the API.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from jikimi.domain import Permission, Principal, Role
from jikimi.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    Unauthorized,
)
from jikimi.evidence import Sealer
from jikimi.services import totp
from jikimi.services._common import now, require
from jikimi.services.resetmail import Mailer
from jikimi.store import Store
from jikimi.store import audit as audit_repo
from jikimi.store import tenants as tenant_repo
from jikimi.store import users as repo
from jikimi.store.users import UiSettings, User

MAX_FAILURES = 5
LOCK_MINUTES = 15
SESSION_HOURS = 12
MIN_PASSWORD = 12
RESET_HOURS = 24
RECOVERY_CODES = 10
TOTP_ROLES = frozenset({Role.REVIEWER, Role.ADMIN})
"""The roles a tenant's ``require_totp`` setting applies to."""
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _recovery_hash(user_id: str, code: str) -> str:
    normal = code.strip().replace("-", "").replace(" ", "").lower()
    return hashlib.sha256(f"jikimi.recovery/1|{user_id}|{normal}".encode()).hexdigest()


def _new_recovery_codes() -> builtins.list[str]:
    """Ten codes of 80 random bits, written ``abcd-efgh-ijkl-mnop`` (base32, no 0/1/8/9)."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def principal_of(user: User) -> Principal:
    """The user as the services' caller: her tenant and role."""
    return Principal(tenant_id=user.tenant_id, key_id=user.id, role=user.role)


@dataclass(frozen=True)
class SignedIn:
    """A new session: the token goes into a cookie, never into the database."""

    token: str
    csrf: str
    user: User


@dataclass(frozen=True)
class SessionInfo:
    """The user behind a session cookie, her CSRF token, her tenant's rules."""

    user: User
    csrf: str
    settings: UiSettings

    @property
    def principal(self) -> Principal:
        return principal_of(self.user)

    @property
    def must_enrol_totp(self) -> bool:
        """Her tenant requires a second factor of her role and she has none yet."""
        return (
            self.settings.require_totp and self.user.role in TOTP_ROLES and not self.user.has_totp
        )


@dataclass(frozen=True)
class ResetIssued:
    """A password reset: its link is e-mailed (``mailed_to``) or shown once (``link``)."""

    user: User
    expires_at: datetime
    link: str | None
    mailed_to: str | None


class AccountService:
    """Accounts, sign-in and sessions (see the module docstring)."""

    def __init__(self, store: Store, sealer: Sealer, mailer: Mailer | None = None) -> None:
        self.store = store
        self.sealer = sealer
        self.mailer = mailer
        self._hasher = PasswordHasher()
        self._dummy: str | None = None

    # --- accounts --------------------------------------------------------------------

    def create(
        self, tenant_id: str, email: str, role: Role, password: str, *, actor: str = "cli"
    ) -> User:
        """A new account (the CLI makes the first; an admin the others)."""
        email = email.strip().lower()
        if not _EMAIL_RE.match(email):
            raise InvalidInput(f"{email!r} is not an e-mail address")
        password_hash = self._new_hash(password)
        at = now()
        with self.store.session(write=True) as s, s.begin():
            if tenant_repo.get_tenant(s, tenant_id) is None:
                raise NotFound(f"no tenant {tenant_id!r}")
            if repo.user_row_by_email(s, email) is not None:
                raise Conflict(f"an account for {email!r} exists")
            user = repo.create_user(
                s, tenant_id=tenant_id, email=email, role=role, password_hash=password_hash, at=at
            )
            self._audit(s, tenant_id, actor, user.id, "create", {"role": role.value}, at)
        return user

    def add(self, principal: Principal, email: str, role: Role, password: str) -> User:
        """An admin adds a person to her own tenant."""
        require(principal, Permission.KEY_ADMIN)
        return self.create(principal.tenant_id, email, role, password, actor=principal.key_id)

    def list(self, principal: Principal) -> builtins.list[User]:
        require(principal, Permission.KEY_ADMIN)
        with self.store.session() as s:
            return repo.list_users(s, principal.tenant_id)

    def names(self, principal: Principal) -> dict[str, str]:
        """Her colleagues' e-mail addresses by user id (who escalated, who decided)."""
        with self.store.session() as s:
            return {u.id: u.email for u in repo.list_users(s, principal.tenant_id)}

    def set_disabled(self, principal: Principal, user_id: str, disabled: bool) -> User:
        """Disable (every session ends) or enable an account of the admin's tenant."""
        require(principal, Permission.KEY_ADMIN)
        at = now()
        with self.store.session(write=True) as s, s.begin():
            row = repo.user_row(s, user_id)
            if row is None or row.tenant_id != principal.tenant_id:
                raise NotFound(f"no user {user_id!r}")
            row.disabled = disabled
            if disabled:
                repo.delete_user_sessions(s, user_id)
            action = "disable" if disabled else "enable"
            self._audit(s, row.tenant_id, principal.key_id, user_id, action, {}, at)
            return repo.as_user(row)

    # --- tenant settings ---------------------------------------------------------------

    def settings(self, principal: Principal) -> UiSettings:
        with self.store.session() as s:
            return repo.get_settings(s, principal.tenant_id)

    def put_settings(self, principal: Principal, settings: UiSettings) -> UiSettings:
        require(principal, Permission.KEY_ADMIN)
        if not 1 <= settings.daily_cap <= 10_000 or not 5 <= settings.break_minutes <= 480:
            raise InvalidInput("a daily cap is 1 to 10000 items, a break 5 to 480 minutes")
        at = now()
        with self.store.session(write=True) as s, s.begin():
            repo.put_settings(s, principal.tenant_id, settings)
            audit_repo.append(
                s,
                tenant_id=principal.tenant_id,
                actor=principal.key_id,
                entity="ui_settings",
                entity_id=principal.tenant_id,
                action="update",
                data={
                    "require_totp": settings.require_totp,
                    "daily_cap": settings.daily_cap,
                    "break_minutes": settings.break_minutes,
                },
                at=at,
            )
        return settings

    # --- sign-in -----------------------------------------------------------------------

    def sign_in(self, email: str, password: str, code: str = "") -> SignedIn:
        """A session for the right e-mail, password and (if she has one) TOTP code."""
        # The failure and its audit row commit; the error is raised after the transaction.
        outcome = self._attempt(email.strip().lower(), password, code)
        if isinstance(outcome, SignedIn):
            return outcome
        if outcome == "locked":
            raise TooManyAttempts("too many failed sign-ins: try again later")
        raise Unauthorized("wrong e-mail address, password or code")

    def _attempt(self, email: str, password: str, code: str) -> SignedIn | str | None:
        at = now()
        with self.store.session(write=True) as s, s.begin():
            row = repo.user_row_by_email(s, email)
            if row is None:
                self._verify_dummy(password)  # the same time as a known address
                self._audit(s, "-", "-", "-", "sign_in_failed", {"reason": "unknown"}, at)
                return None
            actor = row.id
            if row.locked_until is not None and row.locked_until > at:
                self._audit(s, row.tenant_id, actor, row.id, "sign_in_locked", {}, at)
                return "locked"
            reason = self._check_password(row.password_hash, password)
            if reason is None:
                reason = self._second_factor(s, row, code, at)
            if reason is None and row.disabled:
                reason = "disabled"
            if reason is not None:
                data = self._count_failure(row, reason, at)
                self._audit(s, row.tenant_id, actor, row.id, "sign_in_failed", data, at)
                return None
            row.failed = 0
            row.locked_until = None
            row.last_sign_in_at = at
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            repo.create_session(
                s,
                id_hash=_hash_token(token),
                user_id=row.id,
                csrf=csrf,
                at=at,
                expires_at=at + timedelta(hours=SESSION_HOURS),
            )
            self._audit(s, row.tenant_id, actor, row.id, "sign_in", {}, at)
            return SignedIn(token=token, csrf=csrf, user=repo.as_user(row))

    def _check_password(self, password_hash: str, password: str) -> str | None:
        try:
            self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return "password"
        return None

    def _second_factor(self, s: Session, row: Any, code: str, at: datetime) -> str | None:
        """``None`` when she has no TOTP, or ``code`` is a fresh TOTP code or an unused
        recovery code (used up here); otherwise why not."""
        if row.totp_sealed is None:
            return None
        secret = self.sealer.open(row.totp_sealed, f"totp:{row.id}").decode()
        step = totp.matched_step(secret, code)
        if step is not None:
            if row.totp_last_step is not None and step <= row.totp_last_step:
                return "totp_replayed"
            row.totp_last_step = step
            return None
        if len(code) >= 16 and repo.use_recovery_code(s, row.id, _recovery_hash(row.id, code), at):
            left = repo.unused_recovery_codes(s, row.id)
            self._audit(s, row.tenant_id, row.id, row.id, "recovery_code_used", {"left": left}, at)
            return None
        return "totp"

    @staticmethod
    def _count_failure(row: Any, reason: str, at: datetime) -> dict[str, Any]:
        """One more failure against her account (locked at ``MAX_FAILURES``): the audit data."""
        row.failed += 1
        data: dict[str, Any] = {"reason": reason, "failures": row.failed}
        if row.failed >= MAX_FAILURES:
            row.locked_until = at + timedelta(minutes=LOCK_MINUTES)
            row.failed = 0
            data["locked_minutes"] = LOCK_MINUTES
        return data

    def _verify_dummy(self, password: str) -> None:
        if self._dummy is None:
            self._dummy = self._hasher.hash(secrets.token_hex(16))
        with contextlib.suppress(VerificationError, InvalidHashError):
            self._hasher.verify(self._dummy, password)

    def session(self, token: str | None) -> SessionInfo | None:
        """The live session of a cookie, or ``None`` (unknown, expired, disabled)."""
        if not token:
            return None
        at = now()
        with self.store.session() as s:
            found = repo.get_session(s, _hash_token(token))
            if found is None:
                return None
            session, row = found
            if session.expires_at <= at or row.disabled:
                return None
            return SessionInfo(
                user=repo.as_user(row),
                csrf=session.csrf,
                settings=repo.get_settings(s, row.tenant_id),
            )

    def sign_out(self, token: str) -> None:
        at = now()
        with self.store.session(write=True) as s, s.begin():
            found = repo.get_session(s, _hash_token(token))
            if found is None:
                return
            repo.delete_session(s, _hash_token(token))
            row = found[1]
            self._audit(s, row.tenant_id, row.id, row.id, "sign_out", {}, at)

    # --- second factor -----------------------------------------------------------------

    def enrol_totp(self, user: User, secret: str, code: str) -> builtins.list[str]:
        """Keep ``secret`` (sealed) once she has shown a code from her app for it.

        Returns her recovery codes, to be shown once: only their hashes are kept.
        """
        step = totp.matched_step(secret, code)
        if step is None:
            raise InvalidInput("that code does not match: check the phone's clock and try again")
        codes = _new_recovery_codes()
        at = now()
        with self.store.session(write=True) as s, s.begin():
            row = self._own_row(s, user.id)
            row.totp_sealed = self.sealer.seal(secret.encode(), f"totp:{user.id}")
            row.totp_last_step = step
            repo.replace_recovery_codes(s, row.id, [_recovery_hash(row.id, c) for c in codes], at)
            data = {"recovery_codes": len(codes)}
            self._audit(s, row.tenant_id, row.id, row.id, "totp_enrol", data, at)
        return codes

    def regenerate_recovery_codes(self, user: User, password: str) -> builtins.list[str]:
        """New recovery codes for her (the old ones stop working); her password is asked."""
        codes = _new_recovery_codes()
        at = now()
        with self.store.session(write=True) as s, s.begin():
            row = self._own_row(s, user.id)
            if row.totp_sealed is None:
                raise InvalidInput("set up two-step sign-in first")
            if self._check_password(row.password_hash, password) is not None:
                failure = self._count_failure(row, "password", at)
                self._audit(s, row.tenant_id, row.id, row.id, "recovery_codes_refused", failure, at)
                codes = []
            else:
                hashes = [_recovery_hash(row.id, c) for c in codes]
                repo.replace_recovery_codes(s, row.id, hashes, at)
                data = {"recovery_codes": len(codes)}
                self._audit(s, row.tenant_id, row.id, row.id, "recovery_codes_regenerate", data, at)
        if not codes:
            raise Unauthorized("that is not your password")
        return codes

    def reset_totp(self, principal: Principal, user_id: str) -> User:
        """An admin clears a colleague's second factor (a lost phone and lost codes).

        Her TOTP secret and recovery codes are deleted and every session of hers ends;
        if the tenant requires a second factor for her role, her next sign-in takes
        her to enrolment. Never one's own: a stolen admin session must not be able to
        drop the factor that protects it.
        """
        require(principal, Permission.KEY_ADMIN)
        if user_id == principal.key_id:
            raise Forbidden("another administrator must reset your two-step sign-in")
        with self.store.session() as s:
            row = repo.user_row(s, user_id)
            if row is None or row.tenant_id != principal.tenant_id:
                raise NotFound(f"no user {user_id!r}")
        return self._reset_totp(user_id, principal.key_id)

    def reset_totp_by_email(self, email: str, actor: str = "cli") -> User:
        """The operator's reset (``jikimi user reset-totp``)."""
        with self.store.session() as s:
            row = repo.user_row_by_email(s, email.strip().lower())
            if row is None:
                raise NotFound(f"no account for {email!r}")
        return self._reset_totp(row.id, actor)

    def _reset_totp(self, user_id: str, actor: str) -> User:
        at = now()
        with self.store.session(write=True) as s, s.begin():
            row = self._own_row(s, user_id)
            had = row.totp_sealed is not None
            row.totp_sealed = None
            row.totp_last_step = None
            repo.replace_recovery_codes(s, row.id, [], at)
            ended = repo.delete_other_sessions(s, row.id, "")
            data = {"had_totp": had, "sessions_ended": ended}
            self._audit(s, row.tenant_id, actor, row.id, "totp_reset", data, at)
            return repo.as_user(row)

    def recovery_codes_left(self, user: User) -> int:
        with self.store.session() as s:
            return repo.unused_recovery_codes(s, user.id)

    # --- passwords ---------------------------------------------------------------------

    def _new_hash(self, password: str) -> str:
        if len(password) < MIN_PASSWORD:
            raise InvalidInput(f"a password has at least {MIN_PASSWORD} characters")
        return self._hasher.hash(password)

    def change_password(self, user: User, session_token: str, old: str, new: str) -> int:
        """Her new password; her other sessions end (how many). A wrong old password
        counts as a failed sign-in (a stolen session cannot guess it freely)."""
        password_hash = self._new_hash(new)
        at = now()
        with self.store.session(write=True) as s, s.begin():
            row = self._own_row(s, user.id)
            if self._check_password(row.password_hash, old) is not None:
                failure = self._count_failure(row, "password", at)
                self._audit(
                    s, row.tenant_id, row.id, row.id, "password_change_refused", failure, at
                )
                ended = -1
            else:
                row.password_hash = password_hash
                ended = repo.delete_other_sessions(s, row.id, _hash_token(session_token))
                data = {"sessions_ended": ended}
                self._audit(s, row.tenant_id, row.id, row.id, "password_change", data, at)
        if ended < 0:
            raise Unauthorized("that is not your current password")
        return ended

    def issue_reset(self, principal: Principal, user_id: str, link_base: str) -> ResetIssued:
        """An admin's one-time reset for a person of her tenant (see the module docstring)."""
        require(principal, Permission.KEY_ADMIN)
        with self.store.session() as s:
            row = repo.user_row(s, user_id)
            if row is None or row.tenant_id != principal.tenant_id:
                raise NotFound(f"no user {user_id!r}")
        return self._issue_reset(user_id, principal.key_id, link_base, mail=True)

    def issue_reset_by_email(self, email: str, link_base: str, actor: str = "cli") -> ResetIssued:
        """The operator's reset (``jikimi user reset-password``): shown, never mailed."""
        with self.store.session() as s:
            row = repo.user_row_by_email(s, email.strip().lower())
            if row is None:
                raise NotFound(f"no account for {email!r}")
        return self._issue_reset(row.id, actor, link_base, mail=False)

    def _issue_reset(self, user_id: str, actor: str, link_base: str, *, mail: bool) -> ResetIssued:
        token = secrets.token_urlsafe(32)
        link = f"{link_base.rstrip('/')}/reset/{token}"
        at = now()
        expires = at + timedelta(hours=RESET_HOURS)
        mailer = self.mailer if mail else None
        with self.store.session(write=True) as s, s.begin():
            row = self._own_row(s, user_id)
            repo.add_reset(
                s,
                token_hash=_hash_token(token),
                user_id=row.id,
                created_by=actor,
                at=at,
                expires_at=expires,
            )
            data = {"mailed": mailer is not None, "expires_at": expires.isoformat()}
            self._audit(s, row.tenant_id, actor, row.id, "password_reset_issue", data, at)
            user = repo.as_user(row)
            if mailer is not None:  # inside the transaction: no reset stays that was not sent
                mailer.send(
                    user.email,
                    "Set a new jikimi password",
                    f"An administrator asked for a new password for {user.email}.\n\n"
                    f"Open this link within {RESET_HOURS} hours to choose one:\n{link}\n\n"
                    "It works once. If you did not expect this, tell your administrator.",
                )
        if mailer is not None:
            return ResetIssued(user, expires, None, user.email)
        return ResetIssued(user, expires, link, None)

    def reset_is_live(self, token: str) -> bool:
        with self.store.session() as s:
            return repo.live_reset(s, _hash_token(token), now()) is not None

    def use_reset(self, token: str, password: str) -> User:
        """Set her password from a live reset link; every session of hers ends."""
        password_hash = self._new_hash(password)
        at = now()
        with self.store.session(write=True) as s, s.begin():
            reset = repo.live_reset(s, _hash_token(token), at)
            if reset is None:
                raise NotFound("this reset link is unknown, used or expired: ask for a new one")
            reset.used_at = at
            row = self._own_row(s, reset.user_id)
            row.password_hash = password_hash
            row.failed = 0
            row.locked_until = None
            ended = repo.delete_other_sessions(s, row.id, "")
            data = {"sessions_ended": ended, "issued_by": reset.created_by}
            self._audit(s, row.tenant_id, row.id, row.id, "password_reset", data, at)
            return repo.as_user(row)

    @staticmethod
    def _own_row(s: Session, user_id: str) -> Any:
        row = repo.user_row(s, user_id)
        if row is None:
            raise NotFound(f"no user {user_id!r}")
        return row

    # --- audit -------------------------------------------------------------------------

    def _audit(
        self,
        s: Session,
        tenant_id: str,
        actor: str,
        user_id: str,
        action: str,
        data: dict[str, Any],
        at: datetime,
    ) -> None:
        audit_repo.append(
            s,
            tenant_id=tenant_id,
            actor=actor,
            entity="user",
            entity_id=user_id,
            action=action,
            data=data,
            at=at,
        )

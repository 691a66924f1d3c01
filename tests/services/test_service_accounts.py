"""Accounts on SQLite and PostgreSQL: hashes at rest, lock-out, sessions, TOTP (replay,
recovery codes), password change and reset, audit."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import sqlalchemy as sa

from jikimi.domain import Role
from jikimi.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    Unauthorized,
)
from jikimi.evidence import Sealer
from jikimi.services import TenantService, totp
from jikimi.services._common import now
from jikimi.services.accounts import MAX_FAILURES, RECOVERY_CODES, AccountService, principal_of
from jikimi.store import Store
from jikimi.store.ui_models import PasswordResetRow, RecoveryCodeRow, UserRow, UserSessionRow
from jikimi.store.users import UiSettings, User

PASSWORD = "twelve chars or more"
NEW_PASSWORD = "another long passphrase"


@dataclass
class _Outbox:
    """An in-memory mailer: what would have gone to the SMTP server."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append((to, subject, body))


@pytest.fixture
def accounts(store: Store) -> AccountService:
    return AccountService(store, Sealer(b"k" * 32))


@pytest.fixture
def tenant_id(store: Store) -> str:
    tenant, _ = TenantService(store).create("acme")
    return tenant.id


def _next_code(secret: str) -> str:
    """The code of the next time step: accepted after enrolment used the current one."""
    return totp.code_now(secret, time.time() + totp.STEP_S)


def _actions(store: Store) -> list[str]:
    with store.session() as s:
        return list(s.scalars(sa.text("SELECT action FROM audit_log ORDER BY seq")))


def test_rfc_6238_vectors() -> None:
    key = b"12345678901234567890"
    for t, code in ((59, "94287082"), (1111111109, "07081804"), (2000000000, "69279037")):
        assert totp.totp_at(key, t, digits=8) == code


def test_totp_accepts_one_step_either_side_only() -> None:
    secret = totp.new_secret()
    t = 1_700_000_000.0
    assert totp.verify(secret, totp.code_now(secret, t - 30), t)
    assert totp.verify(secret, totp.code_now(secret, t + 30), t)
    assert not totp.verify(secret, totp.code_now(secret, t - 90), t)
    assert not totp.verify(secret, "12345", t)


def test_nothing_secret_is_stored_in_the_clear(
    store: Store, accounts: AccountService, tenant_id: str
) -> None:
    user = accounts.create(tenant_id, "A@Acme.Test", Role.REVIEWER, PASSWORD)
    assert user.email == "a@acme.test"
    secret = totp.new_secret()
    accounts.enrol_totp(user, secret, totp.code_now(secret))
    signed = accounts.sign_in("a@acme.test", PASSWORD, _next_code(secret))
    with store.session() as s:
        row = s.get(UserRow, user.id)
        assert row is not None and row.password_hash.startswith("$argon2")
        assert row.totp_sealed is not None and secret.encode() not in row.totp_sealed
        ids = list(s.scalars(sa.select(UserSessionRow.id_hash)))
    assert ids and signed.token not in ids  # only its SHA-256
    info = accounts.session(signed.token)
    assert info is not None and info.user.id == user.id and info.csrf == signed.csrf
    assert principal_of(user).key_id == user.id
    with pytest.raises(Conflict):
        accounts.create(tenant_id, "a@acme.test", Role.ADMIN, PASSWORD)
    with pytest.raises(InvalidInput):
        accounts.create(tenant_id, "b@acme.test", Role.ADMIN, "short")


def test_lock_out_then_release(store: Store, accounts: AccountService, tenant_id: str) -> None:
    user = accounts.create(tenant_id, "a@acme.test", Role.CURATOR, PASSWORD)
    for _ in range(MAX_FAILURES):
        with pytest.raises(Unauthorized):
            accounts.sign_in("a@acme.test", "wrong password")
    with pytest.raises(TooManyAttempts):
        accounts.sign_in("a@acme.test", PASSWORD)
    with pytest.raises(Unauthorized):
        accounts.sign_in("nobody@acme.test", PASSWORD)
    actions = _actions(store)
    assert actions.count("sign_in_failed") == MAX_FAILURES + 1
    assert actions[-2:] == ["sign_in_locked", "sign_in_failed"]
    with store.session(write=True) as s, s.begin():  # the lock's time passes
        row = s.get(UserRow, user.id)
        assert row is not None and row.locked_until is not None
        row.locked_until = now() - timedelta(seconds=1)
    assert accounts.sign_in("a@acme.test", PASSWORD).user.id == user.id
    assert _actions(store)[-1] == "sign_in"


def test_sign_out_and_disable_end_sessions(accounts: AccountService, tenant_id: str) -> None:
    admin = accounts.create(tenant_id, "admin@acme.test", Role.ADMIN, PASSWORD)
    user = accounts.add(principal_of(admin), "w@acme.test", Role.CASEWORKER, PASSWORD)
    first = accounts.sign_in("w@acme.test", PASSWORD)
    accounts.sign_out(first.token)
    assert accounts.session(first.token) is None
    second = accounts.sign_in("w@acme.test", PASSWORD)
    accounts.set_disabled(principal_of(admin), user.id, True)
    assert accounts.session(second.token) is None
    with pytest.raises(Unauthorized):
        accounts.sign_in("w@acme.test", PASSWORD)
    with pytest.raises(Forbidden):
        accounts.add(principal_of(user), "x@acme.test", Role.ADMIN, PASSWORD)


def test_the_tenant_rule_requires_totp_of_reviewers_and_admins(
    accounts: AccountService, tenant_id: str
) -> None:
    admin = accounts.create(tenant_id, "admin@acme.test", Role.ADMIN, PASSWORD)
    accounts.create(tenant_id, "c@acme.test", Role.CASEWORKER, PASSWORD)
    accounts.put_settings(principal_of(admin), UiSettings(require_totp=True))
    info = accounts.session(accounts.sign_in("admin@acme.test", PASSWORD).token)
    assert info is not None and info.must_enrol_totp
    info = accounts.session(accounts.sign_in("c@acme.test", PASSWORD).token)
    assert info is not None and not info.must_enrol_totp
    with pytest.raises(InvalidInput):
        accounts.put_settings(principal_of(admin), UiSettings(daily_cap=0))


def _audit(store: Store, action: str) -> list[dict[str, object]]:
    with store.session() as s:
        rows = s.execute(
            sa.text("SELECT actor, entity_id, data FROM audit_log WHERE action = :a ORDER BY seq"),
            {"a": action},
        )
        return [dict(r._mapping) for r in rows]


def _enrolled(accounts: AccountService, tenant_id: str, t: float) -> tuple[User, str, list[str]]:
    user = accounts.create(tenant_id, "r@acme.test", Role.REVIEWER, PASSWORD)
    secret = totp.new_secret()
    codes = accounts.enrol_totp(user, secret, totp.code_now(secret, t))
    return user, secret, codes


def test_a_totp_code_is_good_once(accounts: AccountService, tenant_id: str, store: Store) -> None:
    t = time.time()
    user, secret, _ = _enrolled(accounts, tenant_id, t)
    with pytest.raises(Unauthorized):  # the enrolment used this step's code
        accounts.sign_in(user.email, PASSWORD, totp.code_now(secret, t))
    assert "totp_replayed" in str(_audit(store, "sign_in_failed")[-1]["data"])
    following = totp.code_now(secret, t + totp.STEP_S)
    assert accounts.sign_in(user.email, PASSWORD, following).user.id == user.id
    with pytest.raises(Unauthorized):  # and that one is spent too
        accounts.sign_in(user.email, PASSWORD, following)
    with pytest.raises(Unauthorized):  # an earlier step is never good again
        accounts.sign_in(user.email, PASSWORD, totp.code_now(secret, t - totp.STEP_S))


def test_recovery_codes_are_single_use_and_stored_hashed(
    accounts: AccountService, tenant_id: str, store: Store
) -> None:
    user, _, codes = _enrolled(accounts, tenant_id, time.time())
    assert len(codes) == len(set(codes)) == RECOVERY_CODES
    with store.session() as s:
        stored = list(s.scalars(sa.select(RecoveryCodeRow.code_hash)))
    assert len(stored) == RECOVERY_CODES
    assert not {c.replace("-", "") for c in codes} & set(stored)
    assert not any(c in h for c in codes for h in stored)
    assert accounts.sign_in(user.email, PASSWORD, codes[0].upper()).user.id == user.id
    with pytest.raises(Unauthorized):
        accounts.sign_in(user.email, PASSWORD, codes[0])
    assert accounts.recovery_codes_left(user) == RECOVERY_CODES - 1
    assert _audit(store, "recovery_code_used")[-1]["data"] in ('{"left": 9}', {"left": 9})
    with pytest.raises(Unauthorized):  # a password guesser cannot ask for new codes
        accounts.regenerate_recovery_codes(user, "not my password")
    fresh = accounts.regenerate_recovery_codes(user, PASSWORD)
    assert not set(fresh) & set(codes)
    with pytest.raises(Unauthorized):  # the old codes stopped working
        accounts.sign_in(user.email, PASSWORD, codes[1])
    assert accounts.sign_in(user.email, PASSWORD, fresh[1]).user.id == user.id
    assert _audit(store, "recovery_codes_regenerate")
    assert _audit(store, "recovery_codes_refused")


def test_changing_a_password_ends_her_other_sessions(
    accounts: AccountService, tenant_id: str, store: Store
) -> None:
    user = accounts.create(tenant_id, "w@acme.test", Role.CASEWORKER, PASSWORD)
    here = accounts.sign_in(user.email, PASSWORD)
    elsewhere = accounts.sign_in(user.email, PASSWORD)
    with pytest.raises(Unauthorized):
        accounts.change_password(user, here.token, "not the old one", NEW_PASSWORD)
    with pytest.raises(InvalidInput):
        accounts.change_password(user, here.token, PASSWORD, "short")
    assert accounts.change_password(user, here.token, PASSWORD, NEW_PASSWORD) == 1
    assert accounts.session(here.token) is not None
    assert accounts.session(elsewhere.token) is None
    with pytest.raises(Unauthorized):
        accounts.sign_in(user.email, PASSWORD)
    accounts.sign_in(user.email, NEW_PASSWORD)
    assert _audit(store, "password_change")[-1]["actor"] == user.id
    assert _audit(store, "password_change_refused")


def test_a_reset_link_works_once_within_its_time(
    accounts: AccountService, tenant_id: str, store: Store
) -> None:
    admin = accounts.create(tenant_id, "admin@acme.test", Role.ADMIN, PASSWORD)
    user = accounts.create(tenant_id, "w@acme.test", Role.CASEWORKER, PASSWORD)
    other, _ = TenantService(store).create("other")
    stranger = accounts.create(other.id, "admin@other.test", Role.ADMIN, PASSWORD)
    with pytest.raises(NotFound):
        accounts.issue_reset(principal_of(stranger), user.id, "http://127.0.0.1:8000")
    session = accounts.sign_in(user.email, PASSWORD)
    issued = accounts.issue_reset(principal_of(admin), user.id, "http://127.0.0.1:8000/")
    assert issued.link is not None and issued.mailed_to is None
    assert issued.link.startswith("http://127.0.0.1:8000/reset/")
    token = issued.link.rsplit("/", 1)[1]
    with store.session() as s:
        assert token not in list(s.scalars(sa.select(PasswordResetRow.token_hash)))
    assert accounts.reset_is_live(token)
    accounts.use_reset(token, NEW_PASSWORD)
    assert accounts.session(session.token) is None
    assert accounts.sign_in(user.email, NEW_PASSWORD).user.id == user.id
    with pytest.raises(NotFound):
        accounts.use_reset(token, "yet another passphrase")
    assert [r["actor"] for r in _audit(store, "password_reset_issue")] == [admin.id]
    assert _audit(store, "password_reset")[-1]["entity_id"] == user.id
    late = accounts.issue_reset_by_email(user.email, "http://127.0.0.1:8000")
    assert late.link is not None
    with store.session(write=True) as s, s.begin():
        s.execute(sa.update(PasswordResetRow).values(expires_at=now() - timedelta(seconds=1)))
    with pytest.raises(NotFound):
        accounts.use_reset(late.link.rsplit("/", 1)[1], NEW_PASSWORD)


def test_a_reset_is_mailed_when_a_mail_server_is_set(store: Store, tenant_id: str) -> None:
    outbox = _Outbox()
    accounts = AccountService(store, Sealer(b"k" * 32), mailer=outbox)
    admin = accounts.create(tenant_id, "admin@acme.test", Role.ADMIN, PASSWORD)
    user = accounts.create(tenant_id, "w@acme.test", Role.CASEWORKER, PASSWORD)
    first = accounts.issue_reset(principal_of(admin), user.id, "http://127.0.0.1:8000")
    assert first.link is None and first.mailed_to == "w@acme.test"
    second = accounts.issue_reset(principal_of(admin), user.id, "http://127.0.0.1:8000")
    assert second.link is None
    (to, _, body_1), (_, _, body_2) = outbox.sent
    assert to == "w@acme.test"
    link_1 = next(w for w in body_1.split() if "/reset/" in w)
    link_2 = next(w for w in body_2.split() if "/reset/" in w)
    with pytest.raises(NotFound):  # only the newest link counts
        accounts.use_reset(link_1.rsplit("/", 1)[1], NEW_PASSWORD)
    accounts.use_reset(link_2.rsplit("/", 1)[1], NEW_PASSWORD)


def test_an_admin_resets_a_lost_second_factor_never_her_own(
    accounts: AccountService, tenant_id: str, store: Store
) -> None:
    """Phone and recovery codes lost: another admin clears the factor; she enrols anew."""
    admin = accounts.create(tenant_id, "admin@acme.test", Role.ADMIN, PASSWORD)
    user, _secret, codes = _enrolled(accounts, tenant_id, time.time())
    accounts.put_settings(principal_of(admin), UiSettings(require_totp=True))
    session = accounts.sign_in(user.email, PASSWORD, codes[0])
    other, _ = TenantService(store).create("other")
    stranger = accounts.create(other.id, "admin@other.test", Role.ADMIN, PASSWORD)
    with pytest.raises(NotFound):
        accounts.reset_totp(principal_of(stranger), user.id)
    with pytest.raises(Forbidden):
        accounts.reset_totp(principal_of(user), user.id)  # a reviewer: no admin rights
    with pytest.raises(Forbidden):
        accounts.reset_totp(principal_of(admin), admin.id)  # never one's own
    cleared = accounts.reset_totp(principal_of(admin), user.id)
    assert not cleared.has_totp and accounts.recovery_codes_left(user) == 0
    assert accounts.session(session.token) is None  # her sessions ended
    with store.session() as s:  # the old codes are gone
        assert not list(
            s.scalars(sa.select(RecoveryCodeRow).where(RecoveryCodeRow.user_id == user.id))
        )
    info = accounts.session(accounts.sign_in(user.email, PASSWORD).token)
    assert info is not None and info.must_enrol_totp  # the tenant rule sends her to enrol
    row = _audit(store, "totp_reset")[-1]
    assert row["actor"] == admin.id and row["entity_id"] == user.id
    assert accounts.reset_totp_by_email(user.email).id == user.id  # the operator's way

"""Accounts on SQLite and PostgreSQL: hashes at rest, lock-out, sessions, TOTP, audit."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from jikimi.domain import Role
from jikimi.errors import Conflict, Forbidden, InvalidInput, TooManyAttempts, Unauthorized
from jikimi.evidence import Sealer
from jikimi.services import TenantService, totp
from jikimi.services._common import now
from jikimi.services.accounts import MAX_FAILURES, AccountService, principal_of
from jikimi.store import Store
from jikimi.store.ui_models import UserRow, UserSessionRow
from jikimi.store.users import UiSettings

PASSWORD = "twelve chars or more"


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

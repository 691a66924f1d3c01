"""Tenants and API keys: shown once, stored hashed, revocable at once, tenant-scoped."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from service_helpers import Side

from jikimi.domain import Role
from jikimi.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from jikimi.services import KeyService, TenantService
from jikimi.store import Store


def test_create_tenant_gives_a_working_admin_key_stored_only_as_a_hash(store: Store) -> None:
    tenant, issued = TenantService(store).create("acme")
    principal = KeyService(store).authenticate(issued.secret)
    assert principal.tenant_id == tenant.id and principal.role == Role.ADMIN
    assert principal.key_id == issued.key.id
    assert issued.secret.startswith("jk_" + issued.key.id.removeprefix("key_") + "_")
    assert len(issued.secret) == 73
    with store.session() as s, s.begin():
        stored = s.execute(sa.text("SELECT secret_sha256 FROM api_keys")).scalars().all()
    assert stored == [hashlib.sha256(issued.secret.encode()).hexdigest()]
    assert [t.name for t in TenantService(store).list()] == ["acme"]


def test_tenant_names_are_checked_and_unique(store: Store) -> None:
    tenants = TenantService(store)
    tenants.create("acme")
    with pytest.raises(Conflict):
        tenants.create("acme")
    for bad in ("A", "Acme", "ac me", "-acme", "x" * 65):
        with pytest.raises(InvalidInput):
            tenants.create(bad)
    with pytest.raises(NotFound):
        tenants.get("nobody")


def test_bad_secrets_are_unauthorized(store: Store, acme: Side) -> None:
    keys = KeyService(store)
    good = acme.admin_secret
    wrong_tail = good[:-1] + ("A" if good[-1] != "A" else "B")
    unknown_id = "jk_" + "0" * 26 + good[29:]
    for secret in ("", "jk_", "Bearer " + good, good + "x", wrong_tail, unknown_id):
        with pytest.raises(Unauthorized):
            keys.authenticate(secret)
    assert keys.authenticate(f"  {good}\n").role == Role.ADMIN  # surrounding space is fine


def test_revocation_is_immediate_and_tenant_scoped(store: Store, acme: Side, bravo: Side) -> None:
    keys = KeyService(store)
    admin = acme.as_[Role.ADMIN]
    issued = keys.issue(admin, Role.PLATFORM, "uploader")
    assert keys.authenticate(issued.secret).role == Role.PLATFORM
    with pytest.raises(NotFound):  # another tenant's admin cannot see it
        keys.revoke(bravo.as_[Role.ADMIN], issued.key.id)
    revoked = keys.revoke(admin, issued.key.id)
    assert revoked.revoked_at is not None
    with pytest.raises(Unauthorized, match="revoked"):
        keys.authenticate(issued.secret)
    assert keys.revoke(admin, issued.key.id).revoked_at == revoked.revoked_at  # idempotent
    listed = {k.id: k for k in keys.list(admin)}
    assert listed[issued.key.id].revoked_at == revoked.revoked_at
    assert all(k.tenant_id == acme.tenant.id for k in listed.values())
    assert issued.key.id not in {k.id for k in keys.list(bravo.as_[Role.ADMIN])}


@pytest.mark.parametrize("role", [r for r in Role if r != Role.ADMIN])
def test_only_admins_manage_keys(store: Store, acme: Side, role: Role) -> None:
    keys = KeyService(store)
    caller = acme.as_[role]
    with pytest.raises(Forbidden):
        keys.issue(caller, Role.ADMIN, "escalate")
    with pytest.raises(Forbidden):
        keys.list(caller)
    with pytest.raises(Forbidden):
        keys.revoke(caller, caller.key_id)


def test_operator_can_issue_a_key_for_a_tenant(store: Store, acme: Side) -> None:
    issued = TenantService(store).issue_key("acme", Role.CURATOR, "recovery")
    principal = KeyService(store).authenticate(issued.secret)
    assert principal.tenant_id == acme.tenant.id and principal.role == Role.CURATOR
    with pytest.raises(InvalidInput):
        TenantService(store).issue_key("acme", Role.ADMIN, "")

"""Helpers of the service tests: a tenant with a principal for each role."""

from __future__ import annotations

from dataclasses import dataclass

from jikimi.domain import Principal, Role, Tenant
from jikimi.services import KeyService, TenantService
from jikimi.store import Store


@dataclass
class Side:
    """One tenant and a principal for each role in it."""

    tenant: Tenant
    admin_secret: str
    as_: dict[Role, Principal]


def make_side(store: Store, name: str) -> Side:
    tenant, issued = TenantService(store).create(name)
    keys = KeyService(store)
    admin = keys.authenticate(issued.secret)
    principals = {Role.ADMIN: admin}
    for role in Role:
        if role != Role.ADMIN:
            principals[role] = keys.authenticate(keys.issue(admin, role, role.value).secret)
    return Side(tenant=tenant, admin_secret=issued.secret, as_=principals)

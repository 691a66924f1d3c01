"""Tenants: created by the operator (CLI), each with a first admin key.

There is no principal here: creating tenants is an act of whoever runs the
server (``jikimi tenant create acme``), not of an API caller. The same goes
for :meth:`TenantService.issue_key`, the operator's way back in when a
tenant has lost every admin key.
"""

from __future__ import annotations

import builtins
import re

from jikimi.domain import IssuedKey, Role, Tenant
from jikimi.errors import InvalidInput, NotFound
from jikimi.services._common import now
from jikimi.services.keys import issue_key
from jikimi.store import Store
from jikimi.store import tenants as repo

TENANT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")


class TenantService:
    """Create and list tenants (operator only: no principal)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, name: str) -> tuple[Tenant, IssuedKey]:
        """A new tenant and its first admin key (the secret is shown once, here)."""
        if not TENANT_NAME_RE.match(name):
            raise InvalidInput(
                "a tenant name is 2 to 64 characters: lowercase letters, digits, '_' or '-', "
                "starting with a letter or digit"
            )
        with self.store.session(write=True) as s, s.begin():
            tenant = repo.create_tenant(s, name, now())
            key = issue_key(s, tenant.id, Role.ADMIN, "admin")
        return tenant, key

    def list(self) -> builtins.list[Tenant]:
        with self.store.session() as s, s.begin():
            return repo.list_tenants(s)

    def get(self, name: str) -> Tenant:
        with self.store.session() as s, s.begin():
            tenant = repo.get_tenant_by_name(s, name)
        if tenant is None:
            raise NotFound(f"no tenant named {name!r}")
        return tenant

    def issue_key(
        self, tenant_name: str, role: Role = Role.ADMIN, name: str = "admin"
    ) -> IssuedKey:
        """A new key for a tenant, issued by the operator (e.g. lost admin keys)."""
        with self.store.session(write=True) as s, s.begin():
            tenant = repo.get_tenant_by_name(s, tenant_name)
            if tenant is None:
                raise NotFound(f"no tenant named {tenant_name!r}")
            return issue_key(s, tenant.id, role, name)

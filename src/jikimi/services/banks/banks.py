"""Banks: create, read, change, share and delete them."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from jikimi.domain import (
    Bank,
    BankCreate,
    BankUpdate,
    Permission,
    Principal,
)
from jikimi.errors import (
    InvalidInput,
    NotFound,
)
from jikimi.services._common import now, require
from jikimi.store import banks as bank_repo
from jikimi.store import entries as entry_repo
from jikimi.store import tenants as tenant_repo

if TYPE_CHECKING:
    pass

from jikimi.services.banks._base import (
    ServiceBase,
    check_labels,
    check_name,
    check_shares,
    check_threshold,
    owned,
    visible,
)


class BankOps(ServiceBase):
    """Bank CRUD and sharing (the ``bank_write`` / ``bank_read`` permissions)."""

    def create(self, principal: Principal, spec: BankCreate) -> Bank:
        require(principal, Permission.BANK_WRITE)
        check_name(spec.name)
        check_threshold(spec.pdq_threshold)
        check_shares(spec.vpdq_query_pct, spec.vpdq_index_pct)
        spec = spec.model_copy(update={"labels": check_labels(spec.labels)})
        with self.store.session(write=True) as s, s.begin():
            bank = bank_repo.create_bank(s, principal.tenant_id, spec, now())
        self._banks_changed([bank.id])
        return bank

    def get(self, principal: Principal, name: str) -> Bank:
        """A bank by name (own first, then shared with the caller) or by ``bnk_`` id."""
        require(principal, Permission.BANK_READ)
        with self.store.session() as s, s.begin():
            return visible(s, principal, name).bank

    def list(self, principal: Principal) -> builtins.list[Bank]:
        """The caller's banks, then those shared with it."""
        require(principal, Permission.BANK_READ)
        with self.store.session() as s, s.begin():
            return [a.bank for a in bank_repo.list_visible_banks(s, principal.tenant_id)]

    def update(self, principal: Principal, name: str, update: BankUpdate) -> Bank:
        require(principal, Permission.BANK_WRITE)
        if update.pdq_threshold is not None:
            check_threshold(update.pdq_threshold)
        check_shares(update.vpdq_query_pct, update.vpdq_index_pct)
        if update.labels is not None:
            update = update.model_copy(update={"labels": check_labels(update.labels)})
        with self.store.session(write=True) as s, s.begin():
            bank = owned(s, principal, name)
            updated = bank_repo.update_bank(s, bank.id, update, now())
        self._banks_changed([updated.id])
        return updated

    def delete(self, principal: Principal, name: str) -> None:
        """Delete the bank and all its entries; they stop matching at once."""
        require(principal, Permission.BANK_WRITE)
        with self.store.session(write=True) as s, s.begin():
            bank = owned(s, principal, name)
            entry_repo.record_bank_removal(s, bank.id, now())
            bank_repo.delete_bank(s, bank.id)
        self._banks_changed([bank.id])

    def share(self, principal: Principal, name: str, tenant_name: str) -> Bank:
        """Let another tenant see this bank (read-only) and match against it."""
        return self._set_share(principal, name, tenant_name, shared=True)

    def unshare(self, principal: Principal, name: str, tenant_name: str) -> Bank:
        """Stop sharing with a tenant (no error if it was not shared)."""
        return self._set_share(principal, name, tenant_name, shared=False)

    def _set_share(self, principal: Principal, name: str, tenant_name: str, shared: bool) -> Bank:
        require(principal, Permission.BANK_WRITE)
        with self.store.session(write=True) as s, s.begin():
            bank = owned(s, principal, name)
            tenant = tenant_repo.get_tenant_by_name(s, tenant_name)
            if tenant is None:
                raise NotFound(f"no tenant named {tenant_name!r}")
            if tenant.id == principal.tenant_id:
                raise InvalidInput("a bank is always visible to its own tenant")
            if shared:
                bank_repo.add_share(s, bank.id, tenant.id, now())
            else:
                bank_repo.remove_share(s, bank.id, tenant.id)
            result = bank_repo.get_bank(s, bank.id)
        assert result is not None  # same transaction as owned()
        self._banks_changed([bank.id])
        return result

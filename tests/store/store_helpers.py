"""Helpers of the store tests: a tenant and a bank made through the repositories."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from jikimi.domain import Bank, BankCreate, BankKind, Tenant
from jikimi.store import Store
from jikimi.store import banks as bank_repo
from jikimi.store import tenants as tenant_repo


def at() -> datetime:
    return datetime.now(UTC)


def tenant_and_bank(
    store: Store, tenant: str = "acme", bank: str = "TAKEDOWNS"
) -> tuple[Tenant, Bank]:
    with store.session(write=True) as s, s.begin():
        t = tenant_repo.create_tenant(s, tenant, at())
        b = bank_repo.create_bank(s, t.id, BankCreate(name=bank, kind=BankKind.TAKEDOWN), at())
    return t, b


def random_hex(rng: random.Random, chars: int = 64) -> str:
    return f"{rng.getrandbits(chars * 4):0{chars}x}"

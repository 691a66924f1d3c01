"""Bank visibility queries: what each tenant's matching runs against."""

from __future__ import annotations

from store_helpers import at, tenant_and_bank

from jikimi.domain import BankCreate, BankKind
from jikimi.store import Store
from jikimi.store import banks as repo
from jikimi.store import tenants as tenant_repo


def test_visibility_follows_explicit_shares(store: Store) -> None:
    acme, takedowns = tenant_and_bank(store)
    with store.session(write=True) as s, s.begin():
        bravo = tenant_repo.create_tenant(s, "bravo", at())
        watch = repo.create_bank(s, bravo.id, BankCreate(name="WATCH", kind=BankKind.WATCH), at())
        assert repo.add_share(s, takedowns.id, bravo.id, at()) is True
        assert repo.add_share(s, takedowns.id, bravo.id, at()) is False
    with store.session() as s, s.begin():
        assert repo.visible_bank_ids(s, acme.id) == [takedowns.id]
        assert repo.visible_bank_ids(s, bravo.id) == sorted([takedowns.id, watch.id])
        everything = {b.id: b for b in repo.list_all_banks(s)}
        as_bravo = repo.resolve_bank(s, bravo.id, "TAKEDOWNS")
        as_acme = repo.resolve_bank(s, acme.id, "WATCH")
        by_id = repo.resolve_bank(s, acme.id, watch.id)
    assert everything[takedowns.id].shared_with == (bravo.id,)
    assert everything[watch.id].shared_with == ()
    assert as_bravo is not None and not as_bravo.owned and as_bravo.bank.shared_with == ()
    assert as_acme is None and by_id is None

    with store.session(write=True) as s, s.begin():
        assert repo.remove_share(s, takedowns.id, bravo.id) is True
        assert repo.remove_share(s, takedowns.id, bravo.id) is False
    with store.session() as s, s.begin():
        assert repo.visible_bank_ids(s, bravo.id) == [watch.id]

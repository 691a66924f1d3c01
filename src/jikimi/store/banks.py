"""Repository of banks and their shares with other tenants.

Visibility lives here as queries (a tenant sees the banks it owns plus those
explicitly shared with it); what a caller may *do* with a visible bank is the
services' decision, based on :attr:`BankAccess.owned`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jikimi.domain import Bank, BankCreate, BankKind, BankUpdate
from jikimi.errors import Conflict
from jikimi.ids import new_id
from jikimi.store.models import BankRow, BankShareRow


@dataclass(frozen=True)
class BankAccess:
    """A bank as one tenant sees it: ``owned`` is False for a bank shared with it."""

    bank: Bank
    owned: bool


def _bank(row: BankRow, shared_with: Collection[str] = ()) -> Bank:
    return Bank(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        kind=BankKind(row.kind),
        pdq_threshold=row.pdq_threshold,
        dihedral=row.dihedral,
        variants=row.variants,
        labels=tuple(row.labels),
        enabled=row.enabled,
        keep_evidence=row.keep_evidence,
        vpdq_query_pct=row.vpdq_query_pct,
        vpdq_index_pct=row.vpdq_index_pct,
        created_at=row.created_at,
        entry_count=row.entry_count,
        shared_with=tuple(sorted(shared_with)),
    )


def shares_of(s: Session, bank_ids: Collection[str]) -> dict[str, list[str]]:
    """Tenant ids each bank is shared with."""
    out: dict[str, list[str]] = {b: [] for b in bank_ids}
    if bank_ids:
        rows = s.execute(
            sa.select(BankShareRow.bank_id, BankShareRow.tenant_id).where(
                BankShareRow.bank_id.in_(list(bank_ids))
            )
        )
        for bank_id, tenant_id in rows:
            out[bank_id].append(tenant_id)
    return out


def _access(s: Session, row: BankRow, tenant_id: str) -> BankAccess:
    owned = row.tenant_id == tenant_id
    shared = shares_of(s, [row.id])[row.id] if owned else []  # owners only see the sharing
    return BankAccess(_bank(row, shared), owned)


def create_bank(s: Session, tenant_id: str, spec: BankCreate, at: datetime) -> Bank:
    """A new bank; :class:`Conflict` if the tenant already has one by that name."""
    taken = sa.select(BankRow.id).where(BankRow.tenant_id == tenant_id, BankRow.name == spec.name)
    if s.scalar(taken) is not None:
        raise Conflict(f"a bank named {spec.name!r} already exists")
    row = BankRow(
        id=new_id("bnk"),
        tenant_id=tenant_id,
        name=spec.name,
        kind=spec.kind.value,
        pdq_threshold=spec.pdq_threshold,
        dihedral=spec.dihedral,
        variants=spec.variants,
        labels=list(spec.labels),
        enabled=spec.enabled,
        keep_evidence=spec.keep_evidence,
        vpdq_query_pct=spec.vpdq_query_pct,
        vpdq_index_pct=spec.vpdq_index_pct,
        entry_count=0,
        created_at=at,
        updated_at=at,
    )
    s.add(row)
    try:
        s.flush()
    except IntegrityError:
        raise Conflict(f"a bank named {spec.name!r} already exists") from None
    return _bank(row)


def resolve_bank(s: Session, tenant_id: str, ref: str) -> BankAccess | None:
    """The bank ``ref`` (a name or a ``bnk_`` id) if ``tenant_id`` may see it.

    A name means the tenant's own bank first, then one shared with it. Two
    shared banks with the same name (from different owners) are ambiguous: the
    caller must use the id.
    """
    if ref.startswith("bnk_"):
        row = s.get(BankRow, ref)
        if row is None or not (row.tenant_id == tenant_id or _is_shared(s, row.id, tenant_id)):
            return None
        return _access(s, row, tenant_id)
    own = s.scalar(sa.select(BankRow).where(BankRow.tenant_id == tenant_id, BankRow.name == ref))
    if own is not None:
        return _access(s, own, tenant_id)
    shared = list(
        s.scalars(
            sa.select(BankRow)
            .join(BankShareRow, BankShareRow.bank_id == BankRow.id)
            .where(BankShareRow.tenant_id == tenant_id, BankRow.name == ref)
        )
    )
    if len(shared) > 1:
        raise Conflict(f"several banks shared with you are named {ref!r}: use the bank id")
    return _access(s, shared[0], tenant_id) if shared else None


def _is_shared(s: Session, bank_id: str, tenant_id: str) -> bool:
    return s.get(BankShareRow, (bank_id, tenant_id)) is not None


def list_visible_banks(s: Session, tenant_id: str) -> list[BankAccess]:
    """The tenant's own banks, then those shared with it, each by name."""
    own = list(
        s.scalars(sa.select(BankRow).where(BankRow.tenant_id == tenant_id).order_by(BankRow.name))
    )
    shared = s.scalars(
        sa.select(BankRow)
        .join(BankShareRow, BankShareRow.bank_id == BankRow.id)
        .where(BankShareRow.tenant_id == tenant_id)
        .order_by(BankRow.name, BankRow.id)
    )
    shares = shares_of(s, [r.id for r in own])
    return [BankAccess(_bank(r, shares[r.id]), True) for r in own] + [
        BankAccess(_bank(r), False) for r in shared
    ]


def visible_bank_ids(s: Session, tenant_id: str) -> list[str]:
    """Ids of the banks a tenant's scans and matches are checked against (own + shared)."""
    own = sa.select(BankRow.id).where(BankRow.tenant_id == tenant_id)
    shared = sa.select(BankShareRow.bank_id).where(BankShareRow.tenant_id == tenant_id)
    return sorted(s.scalars(sa.union(own, shared)))


def list_all_banks(s: Session) -> list[Bank]:
    """Every bank with its shares: what a process-wide matching index is built from."""
    rows = list(s.scalars(sa.select(BankRow).order_by(BankRow.id)))
    shares = shares_of(s, [r.id for r in rows])
    return [_bank(r, shares[r.id]) for r in rows]


def get_bank(s: Session, bank_id: str) -> Bank | None:
    """A bank by id, whoever owns it (internal use: matching, background jobs)."""
    row = s.get(BankRow, bank_id)
    return None if row is None else _bank(row, shares_of(s, [bank_id])[bank_id])


def update_bank(s: Session, bank_id: str, update: BankUpdate, at: datetime) -> Bank:
    row = s.get_one(BankRow, bank_id)
    if update.kind is not None:
        row.kind = update.kind.value
    if update.pdq_threshold is not None:
        row.pdq_threshold = update.pdq_threshold
    if update.dihedral is not None:
        row.dihedral = update.dihedral
    if update.variants is not None:
        row.variants = update.variants
    if update.labels is not None:
        row.labels = list(update.labels)
    if update.enabled is not None:
        row.enabled = update.enabled
    if update.keep_evidence is not None:
        row.keep_evidence = update.keep_evidence
    if update.vpdq_query_pct is not None:
        row.vpdq_query_pct = update.vpdq_query_pct
    if update.vpdq_index_pct is not None:
        row.vpdq_index_pct = update.vpdq_index_pct
    row.updated_at = at
    s.flush()
    return _bank(row, shares_of(s, [bank_id])[bank_id])


def delete_bank(s: Session, bank_id: str) -> None:
    """Delete the bank; its entries, shares and retroactive matches go with it (cascade)."""
    s.execute(sa.delete(BankRow).where(BankRow.id == bank_id))


def add_share(s: Session, bank_id: str, tenant_id: str, at: datetime) -> bool:
    """Share with a tenant; ``False`` if it already was."""
    if _is_shared(s, bank_id, tenant_id):
        return False
    s.add(BankShareRow(bank_id=bank_id, tenant_id=tenant_id, created_at=at))
    s.flush()
    return True


def remove_share(s: Session, bank_id: str, tenant_id: str) -> bool:
    """Stop sharing with a tenant; ``False`` if it was not shared."""
    result = s.execute(
        sa.delete(BankShareRow).where(
            BankShareRow.bank_id == bank_id, BankShareRow.tenant_id == tenant_id
        )
    )
    return bool(getattr(result, "rowcount", 0))


def adjust_entry_count(s: Session, bank_id: str, delta: int) -> None:
    if delta:
        s.execute(
            sa.update(BankRow)
            .where(BankRow.id == bank_id)
            .values(entry_count=BankRow.entry_count + delta)
        )

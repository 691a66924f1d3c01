"""Repository of tenants and API keys: rows in, value types out, never a commit.

Key secrets are not stored; only their SHA-256 is, and it is returned only by
:func:`get_key_for_auth`, whose one caller compares it in constant time.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jikimi.domain import ApiKey, Role, Tenant
from jikimi.errors import Conflict
from jikimi.ids import new_id
from jikimi.store.models import ApiKeyRow, TenantRow


def _tenant(row: TenantRow) -> Tenant:
    return Tenant(id=row.id, name=row.name, created_at=row.created_at)


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        role=Role(row.role),
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def create_tenant(s: Session, name: str, at: datetime) -> Tenant:
    """A new tenant; :class:`Conflict` if the name is taken."""
    if s.scalar(sa.select(TenantRow.id).where(TenantRow.name == name)) is not None:
        raise Conflict(f"a tenant named {name!r} already exists")
    row = TenantRow(id=new_id("ten"), name=name, created_at=at)
    s.add(row)
    try:
        s.flush()
    except IntegrityError:  # created concurrently by another process
        raise Conflict(f"a tenant named {name!r} already exists") from None
    return _tenant(row)


def get_tenant(s: Session, tenant_id: str) -> Tenant | None:
    row = s.get(TenantRow, tenant_id)
    return None if row is None else _tenant(row)


def get_tenant_by_name(s: Session, name: str) -> Tenant | None:
    row = s.scalar(sa.select(TenantRow).where(TenantRow.name == name))
    return None if row is None else _tenant(row)


def list_tenants(s: Session) -> list[Tenant]:
    return [_tenant(r) for r in s.scalars(sa.select(TenantRow).order_by(TenantRow.name))]


def create_key(
    s: Session,
    *,
    key_id: str,
    tenant_id: str,
    role: Role,
    name: str,
    secret_sha256: str,
    at: datetime,
) -> ApiKey:
    row = ApiKeyRow(
        id=key_id,
        tenant_id=tenant_id,
        role=role.value,
        name=name,
        secret_sha256=secret_sha256,
        created_at=at,
        revoked_at=None,
    )
    s.add(row)
    s.flush()
    return _key(row)


def get_key_for_auth(s: Session, key_id: str) -> tuple[ApiKey, str] | None:
    """The key and its stored secret hash, for :class:`~jikimi.services.KeyService` only."""
    row = s.get(ApiKeyRow, key_id)
    return None if row is None else (_key(row), row.secret_sha256)


def get_key(s: Session, tenant_id: str, key_id: str) -> ApiKey | None:
    row = s.get(ApiKeyRow, key_id)
    return None if row is None or row.tenant_id != tenant_id else _key(row)


def list_keys(s: Session, tenant_id: str) -> list[ApiKey]:
    rows = s.scalars(
        sa.select(ApiKeyRow).where(ApiKeyRow.tenant_id == tenant_id).order_by(ApiKeyRow.id)
    )
    return [_key(r) for r in rows]


def revoke_key(s: Session, tenant_id: str, key_id: str, at: datetime) -> ApiKey | None:
    """Mark the key revoked (keeps the first revocation time); ``None`` if not this tenant's."""
    row = s.get(ApiKeyRow, key_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    if row.revoked_at is None:
        row.revoked_at = at
        s.flush()
    return _key(row)

"""Repository of tenants' webhooks (one per tenant; its secret stays sealed here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from jikimi.store.shared_models import WebhookRow


@dataclass(frozen=True)
class Webhook:
    tenant_id: str
    url: str
    events: tuple[str, ...]
    secret_sealed: bytes
    enabled: bool
    created_at: datetime
    updated_at: datetime


def _webhook(row: WebhookRow) -> Webhook:
    return Webhook(
        tenant_id=row.tenant_id,
        url=row.url,
        events=tuple(row.events),
        secret_sealed=row.secret_sealed,
        enabled=row.enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def get(s: Session, tenant_id: str) -> Webhook | None:
    row = s.get(WebhookRow, tenant_id)
    return None if row is None else _webhook(row)


def put(
    s: Session,
    tenant_id: str,
    url: str,
    events: Sequence[str],
    secret_sealed: bytes,
    at: datetime,
) -> Webhook:
    """Create or replace the tenant's webhook (a new secret each time)."""
    row = s.get(WebhookRow, tenant_id)
    if row is None:
        row = WebhookRow(tenant_id=tenant_id, created_at=at)
        s.add(row)
    row.url, row.events, row.secret_sealed = url, list(events), secret_sealed
    row.enabled, row.updated_at = True, at
    s.flush()
    return _webhook(row)


def delete(s: Session, tenant_id: str) -> bool:
    row = s.get(WebhookRow, tenant_id)
    if row is None:
        return False
    s.delete(row)
    s.flush()
    return True

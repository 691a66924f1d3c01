"""What a process that scans on its own needs from the service: who the caller is and
her scan stages (banks and faces), read from the configured database.

``jikimi scan --key/--tenant`` and a Ray job (``python -m jikimi.scale.ray_job``)
both call these, so a scan on the box, on a Ray cluster and through
``POST /v1/scan`` match against the same banks and the same enrolled persons.
"""

from __future__ import annotations

from jikimi.config import Settings
from jikimi.domain import Principal, Role
from jikimi.faces import TenantFaces
from jikimi.matching.bank_snapshot import BankSnapshot
from jikimi.services.keys import KeyService
from jikimi.services.matching import load_snapshot
from jikimi.services.persons import FaceGallery
from jikimi.services.tenants import TenantService
from jikimi.store import Store, migrate


def scan_principal(store: Store, key: str | None, tenant: str | None) -> Principal:
    """The caller: an API key's holder, or the operator on the box acting for the
    tenant named ``tenant`` (with the platform role, as ``jikimi scan --tenant``)."""
    if key:
        return KeyService(store).authenticate(key)
    found = TenantService(store).get(tenant or "")
    return Principal(tenant_id=found.id, key_id="operator", role=Role.PLATFORM)


def who_scans(settings: Settings, key: str | None, tenant: str | None) -> Principal:
    """:func:`scan_principal` on the configured database (migrated first)."""
    migrate(settings)
    store = Store.from_settings(settings)
    try:
        return scan_principal(store, key, tenant)
    finally:
        store.close()


def tenant_stages(
    settings: Settings, key: str | None, tenant: str | None
) -> tuple[BankSnapshot, TenantFaces | None]:
    """The caller's banks and face stage, as ``POST /v1/scan`` would use them now
    (templates opened with the face key, ``face_detect`` deciding whether faces
    are looked for); the database is migrated first, as ``jikimi bank`` does."""
    migrate(settings)
    store = Store.from_settings(settings)
    try:
        principal = scan_principal(store, key, tenant)
        banks = load_snapshot(store, settings, principal)
        return banks, FaceGallery(store, settings).faces_for(principal)
    finally:
        store.close()

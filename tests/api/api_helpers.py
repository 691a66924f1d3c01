"""Helpers of the API tests: synthetic JPEGs, two-tenant worlds, the test client."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from starlette.testclient import TestClient  # on httpx2 (a dev dependency), as Starlette wants

from jikimi.config import Settings
from jikimi.domain import Principal, Role
from jikimi.services import KeyService, TenantService
from jikimi.store import Store

__all__ = ["TestClient"]

SAMPLES = Path(str(resources.files("jikimi.data").joinpath("samples")))


def jpeg(seed: int, size: int = 256) -> bytes:
    """A benign synthetic JPEG whose PDQ hash differs for each seed (random blocks)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(blocks).resize((size, size), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status and body["code"] == code
    assert body["type"] == f"urn:jikimi:problem:{code}"
    assert body["title"] and body["detail"]
    return body


def random_hex(chars: int) -> str:
    return secrets.token_hex(chars // 2)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def create_bank(
    client: TestClient, headers: dict[str, str], name: str, kind: str = "watch"
) -> None:
    r = client.post("/v1/banks", json={"name": name, "kind": kind}, headers=headers)
    assert r.status_code == 201, r.text


@dataclass(repr=False)
class Side:
    """One tenant of the world: its keys by role and a few things it owns."""

    name: str
    tenant_id: str
    keys: dict[Role, str]
    principals: dict[Role, Principal]
    bank: str
    entry_id: str = ""
    entry_value: str = ""
    scan_id: str = ""
    image: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Side({self.name})"

    def headers(self, role: Role = Role.ADMIN) -> dict[str, str]:
        return bearer(self.keys[role])


@dataclass
class World:
    client: TestClient
    store: Store
    settings: Settings
    a: Side
    b: Side

    def other(self, side: Side) -> Side:
        return self.b if side is self.a else self.a


def make_side(client: TestClient, store: Store, name: str, bank: str, seed: int) -> Side:
    tenant, admin = TenantService(store).create(name)
    keys_service = KeyService(store)
    admin_principal = keys_service.authenticate(admin.secret)
    keys = {Role.ADMIN: admin.secret}
    for role in Role:
        if role != Role.ADMIN:
            keys[role] = keys_service.issue(admin_principal, role, f"{role.value} key").secret
    principals = {role: keys_service.authenticate(secret) for role, secret in keys.items()}
    side = Side(name=name, tenant_id=tenant.id, keys=keys, principals=principals, bank=bank)
    headers = side.headers()
    r = client.post("/v1/banks", json={"name": bank, "kind": "takedown"}, headers=headers)
    assert r.status_code == 201, r.text
    side.image = jpeg(seed)
    r = client.post(
        f"/v1/banks/{bank}/entries", files={"file": ("x.jpg", side.image)}, headers=headers
    )
    assert r.status_code == 201, r.text
    side.entry_id, side.entry_value = r.json()["id"], r.json()["value"]
    r = client.post("/v1/scan", files={"file": ("x.jpg", jpeg(seed + 1000))}, headers=headers)
    assert r.status_code == 200, r.text
    side.scan_id = r.json()["id"]
    return side

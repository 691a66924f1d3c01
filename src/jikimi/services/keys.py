"""API keys: issued with a random secret shown once, stored hashed, revocable at once.

Secret format: ``jk_<ULID>_<43 characters>``. The ULID is the key id (``key_<ULID>``),
so authentication is one primary-key lookup; the 43 characters are 32 random
bytes (URL-safe base64). Only the SHA-256 of the whole secret is stored: with
256 bits of entropy a slow password hash adds nothing, and SHA-256 keeps
authentication cheap on every request. The comparison is constant-time, and an
unknown key id is compared against a dummy hash so timing does not tell
unknown from wrong. Revocation is checked on every authentication (no cache),
so a revoked key stops working with the next request.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets

from sqlalchemy.orm import Session

from jikimi.domain import ApiKey, IssuedKey, Permission, Principal, Role, limits
from jikimi.errors import NotFound, Unauthorized
from jikimi.ids import ulid
from jikimi.services._common import now, require
from jikimi.store import Store
from jikimi.store import tenants as repo

_SECRET_RE = re.compile(r"^jk_([0-9A-HJKMNP-TV-Z]{26})_([A-Za-z0-9_-]{43})$")
_DUMMY_SHA256 = hashlib.sha256(b"jikimi: no such key").hexdigest()
MAX_KEY_NAME = limits.MAX_KEY_NAME


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def issue_key(s: Session, tenant_id: str, role: Role, name: str) -> IssuedKey:
    """Create a key in the current transaction (shared by KeyService and TenantService)."""
    name = name.strip()
    limits.check("key_name", name, name="name")
    key_ulid = ulid()
    secret = f"jk_{key_ulid}_{secrets.token_urlsafe(32)}"
    key = repo.create_key(
        s,
        key_id=f"key_{key_ulid}",
        tenant_id=tenant_id,
        role=role,
        name=name,
        secret_sha256=_sha256(secret),
        at=now(),
    )
    return IssuedKey(key=key, secret=secret)


class KeyService:
    """Issue, list, revoke and check API keys. Managing keys is for admins only."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def issue(self, principal: Principal, role: Role, name: str) -> IssuedKey:
        """A new key in the caller's tenant; its secret is in the result and nowhere else."""
        require(principal, Permission.KEY_ADMIN)
        with self.store.session(write=True) as s, s.begin():
            return issue_key(s, principal.tenant_id, role, name)

    def list(self, principal: Principal) -> builtins.list[ApiKey]:
        """The tenant's keys, revoked ones included (never their secrets)."""
        require(principal, Permission.KEY_ADMIN)
        with self.store.session() as s, s.begin():
            return repo.list_keys(s, principal.tenant_id)

    def revoke(self, principal: Principal, key_id: str) -> ApiKey:
        """Revoke a key of the caller's tenant; it fails its next authentication.

        Revoking a revoked key changes nothing (and is not an error).
        """
        require(principal, Permission.KEY_ADMIN)
        with self.store.session(write=True) as s, s.begin():
            key = repo.revoke_key(s, principal.tenant_id, key_id, now())
        if key is None:
            raise NotFound(f"no API key {key_id}")
        return key

    def authenticate(self, secret: str) -> Principal:
        """Who holds ``secret``; :class:`Unauthorized` if malformed, unknown or revoked."""
        match = _SECRET_RE.match(secret.strip())
        if match is None:
            raise Unauthorized("malformed API key")
        with self.store.session() as s, s.begin():
            found = repo.get_key_for_auth(s, f"key_{match[1]}")
        stored = _DUMMY_SHA256 if found is None else found[1]
        if not hmac.compare_digest(_sha256(match[0]), stored) or found is None:
            raise Unauthorized("unknown API key")
        key = found[0]
        if key.revoked_at is not None:
            raise Unauthorized("this API key was revoked")
        return Principal(tenant_id=key.tenant_id, key_id=key.id, role=key.role)

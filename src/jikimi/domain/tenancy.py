"""Roles, permissions, tenants and API keys: who may do what, in which tenant."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from jikimi.domain.base import Frozen


class Role(StrEnum):
    """What an API key may do inside its tenant (see :data:`ROLE_PERMISSIONS`)."""

    ADMIN = "admin"
    CURATOR = "curator"  # keeps banks
    REVIEWER = "reviewer"  # reviews scans
    PLATFORM = "platform"  # a platform's upload pipeline: scan and match only
    CASEWORKER = "caseworker"  # victim-support staff: read scans and banks


class Permission(StrEnum):
    """One capability a service method checks before it does anything."""

    BANK_READ = "bank_read"  # banks, entries
    BANK_WRITE = "bank_write"  # create/update/delete/share banks, add/disable/withdraw entries
    BANK_TRANSFER = "bank_transfer"  # import and export entries
    SCAN = "scan"  # submit media
    MATCH = "match"  # submit hashes
    SCAN_READ = "scan_read"  # read the tenant's stored scans
    KEY_ADMIN = "key_admin"  # issue, list and revoke API keys
    PERSON_READ = "person_read"  # read enrolled persons (never their templates)
    PERSON_WRITE = "person_write"  # enrol persons (with consent), record withdrawal
    CASE_READ = "case_read"  # cases, items, notices, hosts, sources, reports, history
    CASE_WRITE = "case_write"  # open/close cases, add items, draft and send notices
    HOST_WRITE = "host_write"  # add and change hosts (the directory of platforms)
    NOTICE_APPROVE = "notice_approve"  # approve a drafted notice (the second pair of eyes)
    AUDIT_READ = "audit_read"  # verify the hash-chained audit log
    SOURCE_READ = "source_read"  # an uploader's or channel's risk score (platforms too)


ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.CURATOR: frozenset(
        {
            Permission.BANK_READ,
            Permission.BANK_WRITE,
            Permission.BANK_TRANSFER,
            Permission.SCAN,
            Permission.MATCH,
            Permission.SCAN_READ,
        }
    ),
    Role.REVIEWER: frozenset(
        {
            Permission.BANK_READ,
            Permission.SCAN,
            Permission.SCAN_READ,
            Permission.CASE_READ,
            Permission.NOTICE_APPROVE,
            Permission.AUDIT_READ,
            Permission.SOURCE_READ,
        }
    ),
    Role.PLATFORM: frozenset(
        {Permission.SCAN, Permission.MATCH, Permission.SCAN_READ, Permission.SOURCE_READ}
    ),
    Role.CASEWORKER: frozenset(
        {
            Permission.BANK_READ,
            Permission.SCAN_READ,
            Permission.PERSON_READ,
            Permission.PERSON_WRITE,
            Permission.CASE_READ,
            Permission.CASE_WRITE,
            Permission.HOST_WRITE,
            Permission.SOURCE_READ,
        }
    ),
}
"""The role matrix, in one place: services enforce it, the API's tests walk it."""


class Tenant(Frozen):
    """An organisation using this jikimi (a platform, a regulator, a support centre)."""

    id: str
    name: str
    created_at: datetime


class ApiKey(Frozen):
    """An API key's public record; the secret itself is shown once and never stored."""

    id: str
    tenant_id: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None = None


class IssuedKey(Frozen):
    """A new key and its secret (``jk_<ulid>_<43 chars>``): the only time it is shown."""

    key: ApiKey
    secret: str


class Principal(Frozen):
    """Who is calling: the tenant and role of an authenticated key."""

    tenant_id: str
    key_id: str
    role: Role

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

"""Helpers every service uses: the permission check and the clock.

Permission first, existence second: a caller without the permission gets
:class:`~jikimi.errors.Forbidden` before anything is looked up, so the answer
never depends on (and never reveals) what exists in another tenant.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import UTC, datetime

from jikimi.domain import Permission, Principal
from jikimi.errors import Forbidden


def require(principal: Principal, permission: Permission) -> None:
    """Raise :class:`Forbidden` unless the principal's role grants ``permission``."""
    if not principal.can(permission):
        raise Forbidden(f"role {principal.role.value!r} may not {_VERBS[permission]}")


def runner_id() -> str:
    """A lease owner name that tells processes apart: ``host:pid:random``."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def now() -> datetime:
    """The current time, timezone-aware UTC (the only kind the store accepts)."""
    return datetime.now(UTC)


_VERBS = {
    Permission.BANK_READ: "read banks",
    Permission.BANK_WRITE: "change banks or their entries",
    Permission.BANK_TRANSFER: "import or export bank entries",
    Permission.SCAN: "submit media for scanning",
    Permission.MATCH: "match hashes",
    Permission.SCAN_READ: "read scans",
    Permission.KEY_ADMIN: "manage API keys",
    Permission.PERSON_READ: "read enrolled persons",
    Permission.PERSON_WRITE: "enrol persons or record their withdrawal",
    Permission.CASE_READ: "read cases",
    Permission.CASE_WRITE: "change cases, items or notices",
    Permission.HOST_WRITE: "change hosts",
    Permission.NOTICE_APPROVE: "approve notices",
    Permission.AUDIT_READ: "verify the audit log",
    Permission.SOURCE_READ: "read sources (accounts and channels) and their risk",
}

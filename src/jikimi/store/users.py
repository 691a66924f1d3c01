"""Repository of people's accounts, sessions and a tenant's UI settings (never commits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jikimi.domain import Role
from jikimi.ids import new_id
from jikimi.store.ui_models import (
    PasswordResetRow,
    RecoveryCodeRow,
    UiSettingsRow,
    UserRow,
    UserSessionRow,
)


@dataclass(frozen=True)
class User:
    """An account as the services see it (no password hash, no TOTP secret)."""

    id: str
    tenant_id: str
    email: str
    role: Role
    has_totp: bool
    disabled: bool
    failed: int
    locked_until: datetime | None
    created_at: datetime
    last_sign_in_at: datetime | None


@dataclass(frozen=True)
class UiSettings:
    """A tenant's rules for its people; the defaults apply until an admin changes them."""

    require_totp: bool = False
    daily_cap: int = 300
    break_minutes: int = 45


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        tenant_id=row.tenant_id,
        email=row.email,
        role=Role(row.role),
        has_totp=row.totp_sealed is not None,
        disabled=row.disabled,
        failed=row.failed,
        locked_until=row.locked_until,
        created_at=row.created_at,
        last_sign_in_at=row.last_sign_in_at,
    )


def create_user(
    s: Session, *, tenant_id: str, email: str, role: Role, password_hash: str, at: datetime
) -> User:
    row = UserRow(
        id=new_id("usr"),
        tenant_id=tenant_id,
        email=email,
        role=role.value,
        password_hash=password_hash,
        totp_sealed=None,
        failed=0,
        locked_until=None,
        disabled=False,
        created_at=at,
        last_sign_in_at=None,
    )
    s.add(row)
    s.flush()
    return _user(row)


def user_row_by_email(s: Session, email: str) -> UserRow | None:
    return s.scalar(sa.select(UserRow).where(UserRow.email == email))


def user_row(s: Session, user_id: str) -> UserRow | None:
    return s.get(UserRow, user_id)


def as_user(row: UserRow) -> User:
    return _user(row)


def list_users(s: Session, tenant_id: str) -> list[User]:
    rows = s.scalars(sa.select(UserRow).where(UserRow.tenant_id == tenant_id).order_by(UserRow.id))
    return [_user(r) for r in rows]


def create_session(
    s: Session, *, id_hash: str, user_id: str, csrf: str, at: datetime, expires_at: datetime
) -> None:
    s.add(
        UserSessionRow(
            id_hash=id_hash, user_id=user_id, csrf=csrf, created_at=at, expires_at=expires_at
        )
    )
    s.flush()


def get_session(s: Session, id_hash: str) -> tuple[UserSessionRow, UserRow] | None:
    found = s.execute(
        sa.select(UserSessionRow, UserRow)
        .join(UserRow, UserRow.id == UserSessionRow.user_id)
        .where(UserSessionRow.id_hash == id_hash)
    ).first()
    return None if found is None else (found[0], found[1])


def delete_session(s: Session, id_hash: str) -> None:
    s.execute(sa.delete(UserSessionRow).where(UserSessionRow.id_hash == id_hash))


def delete_user_sessions(s: Session, user_id: str) -> None:
    s.execute(sa.delete(UserSessionRow).where(UserSessionRow.user_id == user_id))


def delete_other_sessions(s: Session, user_id: str, keep_hash: str) -> int:
    """End every session of hers but the one she is using; how many ended."""
    result = s.execute(
        sa.delete(UserSessionRow).where(
            UserSessionRow.user_id == user_id, UserSessionRow.id_hash != keep_hash
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def replace_recovery_codes(s: Session, user_id: str, hashes: list[str], at: datetime) -> None:
    s.execute(sa.delete(RecoveryCodeRow).where(RecoveryCodeRow.user_id == user_id))
    s.add_all(
        RecoveryCodeRow(code_hash=h, user_id=user_id, created_at=at, used_at=None) for h in hashes
    )
    s.flush()


def use_recovery_code(s: Session, user_id: str, code_hash: str, at: datetime) -> bool:
    """Mark an unused code of hers used; ``False`` when there is no such code."""
    result = s.execute(
        sa.update(RecoveryCodeRow)
        .where(
            RecoveryCodeRow.code_hash == code_hash,
            RecoveryCodeRow.user_id == user_id,
            RecoveryCodeRow.used_at.is_(None),
        )
        .values(used_at=at)
    )
    return bool(getattr(result, "rowcount", 0))


def unused_recovery_codes(s: Session, user_id: str) -> int:
    count = s.scalar(
        sa.select(sa.func.count())
        .select_from(RecoveryCodeRow)
        .where(RecoveryCodeRow.user_id == user_id, RecoveryCodeRow.used_at.is_(None))
    )
    return int(count or 0)


def add_reset(
    s: Session,
    *,
    token_hash: str,
    user_id: str,
    created_by: str,
    at: datetime,
    expires_at: datetime,
) -> None:
    """A new reset; any earlier unused reset of hers stops working (only the newest counts)."""
    s.execute(
        sa.delete(PasswordResetRow).where(
            PasswordResetRow.user_id == user_id, PasswordResetRow.used_at.is_(None)
        )
    )
    s.add(
        PasswordResetRow(
            token_hash=token_hash,
            user_id=user_id,
            created_by=created_by,
            created_at=at,
            expires_at=expires_at,
            used_at=None,
        )
    )
    s.flush()


def live_reset(s: Session, token_hash: str, at: datetime) -> PasswordResetRow | None:
    """The unused, unexpired reset of this hash, locked for the caller's transaction."""
    return s.scalar(
        sa.select(PasswordResetRow)
        .where(
            PasswordResetRow.token_hash == token_hash,
            PasswordResetRow.used_at.is_(None),
            PasswordResetRow.expires_at > at,
        )
        .with_for_update()
    )


def get_settings(s: Session, tenant_id: str) -> UiSettings:
    row = s.get(UiSettingsRow, tenant_id)
    if row is None:
        return UiSettings()
    return UiSettings(row.require_totp, row.daily_cap, row.break_minutes)


def put_settings(s: Session, tenant_id: str, settings: UiSettings) -> None:
    row = s.get(UiSettingsRow, tenant_id)
    if row is None:
        row = UiSettingsRow(tenant_id=tenant_id)
        s.add(row)
    row.require_totp = settings.require_totp
    row.daily_cap = settings.daily_cap
    row.break_minutes = settings.break_minutes
    s.flush()

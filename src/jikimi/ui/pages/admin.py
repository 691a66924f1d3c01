"""Admin pages: the tenant's people and their rules, API keys, banks and imports.

A bank import runs in a thread of this process (the same ``import_file`` as the
API, recorded as an import); the page polls the record's counts for its
progress bar, against the rows counted in the uploaded file. Both are in the
database, so any replica behind a load balancer answers the poll the same way.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.responses import JSONResponse, RedirectResponse, Response

from jikimi.domain import BankCreate, BankKind, BankUpdate, Permission, Role
from jikimi.errors import InvalidInput
from jikimi.services.accounts import ResetIssued, SessionInfo
from jikimi.store import ui_imports as totals
from jikimi.store.users import UiSettings
from jikimi.ui.auth import FormSessionDep, ServicesDep, SessionDep, require_page
from jikimi.ui.context import UiServices
from jikimi.ui.rendering import UiRoute, page

router = APIRouter(route_class=UiRoute, include_in_schema=False, prefix="/admin")


def _admin(session: SessionInfo) -> None:
    require_page(session, Permission.KEY_ADMIN)


@router.get("")
def settings(request: Request, session: SessionDep) -> Response:
    _admin(session)
    return page(request, "admin_settings.html", session, settings=session.settings)


@router.post("/settings")
def put_settings(
    ui: ServicesDep,
    session: FormSessionDep,
    daily_cap: Annotated[int, Form()],
    break_minutes: Annotated[int, Form()],
    require_totp: Annotated[str, Form()] = "",
) -> Response:
    ui.accounts.put_settings(
        session.principal,
        UiSettings(
            require_totp=require_totp == "on", daily_cap=daily_cap, break_minutes=break_minutes
        ),
    )
    return RedirectResponse("/admin", status_code=303)


def _users_page(
    request: Request, ui: UiServices, session: SessionInfo, reset: ResetIssued | None = None
) -> Response:
    return page(
        request,
        "admin_users.html",
        session,
        users=ui.accounts.list(session.principal),
        roles=[r.value for r in Role],
        reset=reset,
    )


@router.get("/users")
def users(request: Request, ui: ServicesDep, session: SessionDep) -> Response:
    _admin(session)
    return _users_page(request, ui, session)


@router.post("/users")
def add_user(
    ui: ServicesDep,
    session: FormSessionDep,
    email: Annotated[str, Form()],
    role: Annotated[Role, Form()],
    password: Annotated[str, Form()],
) -> Response:
    ui.accounts.add(session.principal, email, role, password)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{user_id}/reset")
def reset_password(
    request: Request, ui: ServicesDep, session: FormSessionDep, user_id: str
) -> Response:
    """A one-time reset link: e-mailed to her, or shown here once (no mail server)."""
    issued = ui.accounts.issue_reset(session.principal, user_id, str(request.base_url))
    return _users_page(request, ui, session, reset=issued)


@router.post("/users/{user_id}/reset-totp")
def reset_totp(ui: ServicesDep, session: FormSessionDep, user_id: str) -> Response:
    """Her phone and her recovery codes are lost: she enrols again at her next sign-in."""
    ui.accounts.reset_totp(session.principal, user_id)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{user_id}/{change}")
def change_user(ui: ServicesDep, session: FormSessionDep, user_id: str, change: str) -> Response:
    if change not in ("disable", "enable"):
        raise InvalidInput("a user is disabled or enabled")
    ui.accounts.set_disabled(session.principal, user_id, change == "disable")
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/keys")
def keys(request: Request, ui: ServicesDep, session: SessionDep) -> Response:
    _admin(session)
    listed = ui.app.keys.list(session.principal)
    return page(
        request, "admin_keys.html", session, keys=listed, roles=[r.value for r in Role], issued=None
    )


@router.post("/keys")
def issue_key(
    request: Request,
    ui: ServicesDep,
    session: FormSessionDep,
    name: Annotated[str, Form()],
    role: Annotated[Role, Form()],
) -> Response:
    issued = ui.app.keys.issue(session.principal, role, name)
    listed = ui.app.keys.list(session.principal)
    return page(
        request,
        "admin_keys.html",
        session,
        keys=listed,
        roles=[r.value for r in Role],
        issued=issued,
    )


@router.post("/keys/{key_id}/revoke")
def revoke_key(ui: ServicesDep, session: FormSessionDep, key_id: str) -> Response:
    ui.app.keys.revoke(session.principal, key_id)
    return RedirectResponse("/admin/keys", status_code=303)


@router.get("/banks")
def banks(request: Request, ui: ServicesDep, session: SessionDep) -> Response:
    require_page(session, Permission.BANK_READ)
    listed = ui.app.banks.list(session.principal)
    return page(
        request,
        "admin_banks.html",
        session,
        banks=listed,
        kinds=[k.value for k in BankKind],
        can_write=session.principal.can(Permission.BANK_WRITE),
        can_import=session.principal.can(Permission.BANK_TRANSFER),
    )


@router.post("/banks")
def create_bank(
    ui: ServicesDep,
    session: FormSessionDep,
    name: Annotated[str, Form()],
    kind: Annotated[BankKind, Form()],
    pdq_threshold: Annotated[int, Form()] = 31,
) -> Response:
    ui.app.banks.create(
        session.principal, BankCreate(name=name.strip(), kind=kind, pdq_threshold=pdq_threshold)
    )
    return RedirectResponse("/admin/banks", status_code=303)


@router.post("/banks/{name}")
def update_bank(
    ui: ServicesDep,
    session: FormSessionDep,
    name: str,
    pdq_threshold: Annotated[int, Form()],
    enabled: Annotated[str, Form()] = "",
) -> Response:
    ui.app.banks.update(
        session.principal, name, BankUpdate(pdq_threshold=pdq_threshold, enabled=enabled == "on")
    )
    return RedirectResponse("/admin/banks", status_code=303)


@router.post("/banks/{name}/import")
def start_import(
    ui: ServicesDep,
    session: FormSessionDep,
    name: str,
    file: Annotated[UploadFile, File()],
) -> Response:
    require_page(session, Permission.BANK_TRANSFER)
    ui.app.banks.get(session.principal, name)  # another tenant's bank: 404, not a failed start
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the import thread
    shutil.copyfileobj(file.file, spool)
    spool.seek(0)
    rows = sum(1 for line in spool if line.strip())
    spool.seek(0)
    started = threading.Event()
    record: dict[str, Any] = {}

    def on_start(found: Any) -> None:
        with ui.app.store.session(write=True) as s, s.begin():
            totals.put_total(s, found.id, rows)
        record["id"] = found.id
        started.set()

    def run() -> None:
        try:
            ui.app.banks.import_file(session.principal, name, spool, on_start=on_start)
        except Exception as exc:  # shown on the import's page from its record
            record.setdefault("error", str(exc))
        finally:
            spool.close()
            started.set()

    threading.Thread(target=run, name="jikimi-ui-import", daemon=True).start()
    started.wait(60)
    if "id" not in record:
        raise InvalidInput(f"the import did not start: {record.get('error', 'timed out')}")
    return RedirectResponse(f"/admin/imports/{record['id']}", status_code=303)


def _progress(ui: UiServices, session: SessionInfo, import_id: str) -> dict[str, Any]:
    found = ui.app.banks.get_import(session.principal, import_id)
    with ui.app.store.session() as s:
        total = totals.get_total(s, found.id)
    done = found.state.value != "running"
    # A CSV header is a line but not a row: the bar reaches 100 % when the import ends.
    pct = 100 if done else (min(99, int(100 * found.rows / total)) if total else 0)
    return {
        "id": found.id,
        "bank": found.bank,
        "state": found.state.value,
        "rows": found.rows,
        "total": total,
        "percent": pct,
        "added": found.added,
        "duplicates": found.duplicates,
        "errors": found.error_count,
        "failure": found.failure.message if found.failure else None,
    }


@router.get("/imports/{import_id}.json")
def import_json(ui: ServicesDep, session: SessionDep, import_id: str) -> Response:
    require_page(session, Permission.BANK_TRANSFER)
    return JSONResponse(_progress(ui, session, import_id))


@router.get("/imports/{import_id}")
def import_page(request: Request, ui: ServicesDep, session: SessionDep, import_id: str) -> Response:
    require_page(session, Permission.BANK_TRANSFER)
    return page(request, "admin_import.html", session, p=_progress(ui, session, import_id))

"""Signing in: password, CSRF, lock-out, TOTP, the tenant's TOTP rule; every attempt audited."""

from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import BrowserContext, expect
from ui_helpers import PASSWORD, Live, shot, sign_in

from jikimi.domain import Role
from jikimi.evidence import Sealer, load_or_create_secret
from jikimi.services import totp
from jikimi.services.accounts import MAX_FAILURES, AccountService, principal_of
from jikimi.store import Store
from jikimi.store.users import UiSettings


def _accounts(live: Live) -> tuple[AccountService, Store]:
    store = Store.from_settings(live.settings)
    sealer = Sealer(load_or_create_secret(live.data_dir / "keys" / "evidence.key"))
    return AccountService(store, sealer), store


def test_sign_in_and_out(context: BrowserContext, live: Live) -> None:
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto("/desk")
    expect(page).to_have_url(re.compile(r"/signin\?next=/desk$"))
    shot(page, "signin")
    side = live.sides[0]
    page.fill("#email", side.email(Role.CASEWORKER))
    page.fill("#password", PASSWORD)
    page.click("form button.primary")
    expect(page).to_have_url(re.compile(r"/desk$"))  # back where she was going
    expect(page.locator(".who")).to_contain_text("caseworker@acme.test")
    cookie = next(c for c in context.cookies() if c["name"] == "jk_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert live.audit("sign_in", side.users[Role.CASEWORKER].id)
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/signin$"))
    page.goto("/desk")
    expect(page).to_have_url(re.compile(r"/signin"))
    assert requested and all(u.startswith(live.base + "/") for u in requested)
    assert any(u.endswith("/ui/static/js/ui.js") for u in requested)  # served by jikimi


def test_pages_fit_a_phone(context: BrowserContext, live: Live) -> None:
    page = sign_in(context, live.sides[0].email(Role.ADMIN))
    page.set_viewport_size({"width": 390, "height": 844})
    for path in (
        "/",
        "/review",
        "/desk",
        "/desk/hosts",
        "/desk/report",
        "/admin/banks",
        "/admin/users",
    ):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    page.goto("/desk")
    shot(page, "phone-cases")


def test_every_page_forbids_other_origins(context: BrowserContext, live: Live) -> None:
    for path in ("/signin", "/ui/static/ui.css"):
        r = httpx.get(live.base + path)
        assert r.headers["content-security-policy"].startswith("default-src 'self'")
        assert r.headers["x-frame-options"] == "DENY"


def test_a_wrong_password_is_refused_and_audited(context: BrowserContext, live: Live) -> None:
    user = live.sides[0].users[Role.PLATFORM]
    before = len(live.audit("sign_in_failed", user.id))
    page = sign_in(context, user.email, "not the password")
    expect(page.locator("#signin-error")).to_contain_text("wrong e-mail address, password")
    assert len(live.audit("sign_in_failed", user.id)) == before + 1
    assert not [c for c in context.cookies() if c["name"] == "jk_session"]


def test_a_form_without_its_csrf_token_is_refused(context: BrowserContext, live: Live) -> None:
    page = sign_in(context, live.sides[0].email(Role.ADMIN))
    expect(page.locator(".who")).to_be_visible()
    # The session cookie goes along (same context), the token does not.
    r = context.request.post(
        "/admin/keys", form={"name": "forged", "role": "admin", "csrf": "forged"}
    )
    assert r.status == 403
    assert "did not come from this site" in r.text()
    r = context.request.post("/admin/keys", form={"name": "forged", "role": "admin"})
    assert r.status == 403
    with live.api(live.sides[0]) as api:
        assert "forged" not in {k["name"] for k in api.get("/v1/keys").json()["keys"]}
    # The sign-in form's own token (double submit) is checked too.
    r = context.request.post(
        "/signin", form={"email": "x@y.z", "password": "p", "csrf": "not-the-cookie"}
    )
    assert r.status == 403


def test_lock_out_after_repeated_failures(context: BrowserContext, live: Live) -> None:
    accounts, store = _accounts(live)
    try:
        user = accounts.create(live.sides[0].tenant_id, "locked@acme.test", Role.CURATOR, PASSWORD)
    finally:
        store.close()
    for _ in range(MAX_FAILURES):
        page = sign_in(context, user.email, "wrong password!")
        page.close()
    page = sign_in(context, user.email, PASSWORD)  # the right password, too late
    expect(page.locator("#signin-error")).to_contain_text("too many failed sign-ins")
    assert live.audit("sign_in_locked", user.id)
    failed = live.audit("sign_in_failed", user.id)
    assert failed[-1]["data"]["locked_minutes"] > 0
    assert not live.audit("sign_in", user.id)


def test_totp_enrolment_then_required_at_sign_in(context: BrowserContext, live: Live) -> None:
    accounts, store = _accounts(live)
    try:
        user = accounts.create(live.sides[0].tenant_id, "totp@acme.test", Role.REVIEWER, PASSWORD)
    finally:
        store.close()
    page = sign_in(context, user.email)
    page.goto("/account/totp")
    shot(page, "totp")
    secret = page.locator("#totp-secret").inner_text().strip()
    page.fill("#totp-code", "000000" if totp.code_now(secret) != "000000" else "111111")
    page.click("form button.primary")
    expect(page.locator(".error")).to_contain_text("does not match")
    page.goto("/account/totp")
    secret = page.locator("#totp-secret").inner_text().strip()
    enrolled_at = time.time()
    page.fill("#totp-code", totp.code_now(secret, enrolled_at))
    page.click("form button.primary")
    expect(page.locator("#recovery-codes li")).to_have_count(10)  # shown once, now
    shot(page, "recovery-codes")
    page.click("#codes-done")
    expect(page).to_have_url(re.compile(r"/$"))
    assert live.audit("totp_enrol", user.id)[-1]["data"] == {"recovery_codes": 10}
    page.click("text=Sign out")
    page = sign_in(context, user.email)  # no code
    expect(page.locator("#signin-error")).to_be_visible()
    assert live.audit("sign_in_failed", user.id)[-1]["data"]["reason"] == "totp"
    page = sign_in(context, user.email, code=totp.code_now(secret, enrolled_at))  # spent
    expect(page.locator("#signin-error")).to_be_visible()
    assert live.audit("sign_in_failed", user.id)[-1]["data"]["reason"] == "totp_replayed"
    page = sign_in(context, user.email, code=totp.code_now(secret, enrolled_at + totp.STEP_S))
    expect(page.locator(".who")).to_contain_text("totp@acme.test")


def test_tenant_rule_sends_a_reviewer_without_totp_to_enrol(
    context: BrowserContext, live: Live
) -> None:
    side = live.sides[1]
    admin = sign_in(context, side.email(Role.ADMIN))
    admin.goto("/admin")
    shot(admin, "admin-settings")
    admin.check("#require_totp")
    admin.click("form button.primary")
    assert live.audit("update", side.tenant_id)[-1]["data"]["require_totp"] is True
    try:
        reviewer_ctx = context.browser.new_context(base_url=live.base)  # type: ignore[union-attr]
        page = sign_in(reviewer_ctx, side.email(Role.REVIEWER))
        page.goto("/review")
        expect(page).to_have_url(re.compile(r"/account/totp$"))
        expect(page.locator(".notice")).to_contain_text("requires a code")
        page.click("text=Sign out")  # she may leave instead of enrolling now
        expect(page).to_have_url(re.compile(r"/signin$"))
        # A caseworker is not one of the roles the rule applies to.
        page = sign_in(reviewer_ctx, side.email(Role.CASEWORKER))
        page.goto("/desk")
        expect(page).to_have_url(re.compile(r"/desk$"))
        reviewer_ctx.close()
        # The rule applies to the admin who set it, too.
        admin.goto("/admin/users")
        expect(admin).to_have_url(re.compile(r"/account/totp$"))
    finally:
        accounts, store = _accounts(live)
        try:
            accounts.put_settings(principal_of(side.users[Role.ADMIN]), UiSettings())
        finally:
            store.close()

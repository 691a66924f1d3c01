"""Her own account in a real browser: a password change, recovery codes, an admin's reset."""

from __future__ import annotations

import re
import time
from email import message_from_bytes, policy

from playwright.sync_api import BrowserContext, expect
from ui_helpers import PASSWORD, Live, new_user, shot, sign_in

from jikimi.domain import Role
from jikimi.services import totp

NEW_PASSWORD = "a new and longer passphrase"


def test_a_password_change_signs_her_out_elsewhere(context: BrowserContext, live: Live) -> None:
    user = new_user(live, "change@acme.test", Role.CASEWORKER)
    other = context.browser.new_context(base_url=live.base)  # type: ignore[union-attr]
    try:
        elsewhere = sign_in(other, user.email)
        expect(elsewhere.locator(".who")).to_be_visible()
        page = sign_in(context, user.email)
        page.click(".who")
        expect(page).to_have_url(re.compile(r"/account$"))
        shot(page, "account")
        page.fill("#old-password", "not my password at all")
        page.fill("#new-password", NEW_PASSWORD)
        page.fill("#new-again", NEW_PASSWORD)
        page.click("#password-form button")
        expect(page.locator("#account-error")).to_contain_text("not your current password")
        assert live.audit("password_change_refused", user.id)
        page.fill("#old-password", PASSWORD)
        page.fill("#new-password", NEW_PASSWORD)
        page.fill("#new-again", NEW_PASSWORD)
        page.click("#password-form button")
        expect(page.locator("#account-done")).to_be_visible()
        assert live.audit("password_change", user.id)[-1]["data"] == {"sessions_ended": 1}
        elsewhere.goto("/desk")  # her other browser is signed out
        expect(elsewhere).to_have_url(re.compile(r"/signin"))
        page.goto("/desk")  # this one is not
        expect(page).to_have_url(re.compile(r"/desk$"))
        again = sign_in(other, user.email, NEW_PASSWORD)
        expect(again.locator(".who")).to_contain_text(user.email)
    finally:
        other.close()


def test_a_recovery_code_signs_her_in_once(context: BrowserContext, live: Live) -> None:
    user = new_user(live, "recover@acme.test", Role.REVIEWER)
    page = sign_in(context, user.email)
    page.goto("/account/totp")
    secret = page.locator("#totp-secret").inner_text().strip()
    page.fill("#totp-code", totp.code_now(secret, time.time()))
    page.click("form button.primary")
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", c) for c in codes)
    page.click("#codes-done")
    page.click("text=Sign out")
    page = sign_in(context, user.email, code=codes[3])  # her phone is lost
    expect(page.locator(".who")).to_contain_text(user.email)
    assert live.audit("recovery_code_used", user.id)[-1]["data"] == {"left": 9}
    page.goto("/account")
    expect(page.locator("#codes-left")).to_have_text("9")
    page.click("text=Sign out")
    page = sign_in(context, user.email, code=codes[3])  # once only
    expect(page.locator("#signin-error")).to_be_visible()
    page = sign_in(context, user.email, code=codes[4])
    page.goto("/account")
    page.fill("#recovery-password", PASSWORD)
    page.click("#recovery-form button")
    fresh = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    assert live.audit("recovery_codes_regenerate", user.id)
    page.click("#codes-done")
    page.click("text=Sign out")
    page = sign_in(context, user.email, code=codes[5])  # the old codes stopped working
    expect(page.locator("#signin-error")).to_be_visible()


def test_an_admin_resets_a_password_by_mail(context: BrowserContext, live: Live) -> None:
    user = new_user(live, "forgot@acme.test", Role.CASEWORKER)
    admin = live.sides[0].users[Role.ADMIN]
    mine = context.browser.new_context(base_url=live.base)  # type: ignore[union-attr]
    try:
        hers = sign_in(mine, user.email)  # a session the reset will end
        expect(hers.locator(".who")).to_be_visible()
        page = sign_in(context, admin.email)
        page.goto("/admin/users")
        before = len(live.mail)
        page.click(f"button[data-reset='{user.email}']")
        expect(page.locator("#reset-issued")).to_contain_text("e-mailed to forgot@acme.test")
        assert page.locator("#reset-link").count() == 0  # mailed, so the admin never sees it
        shot(page, "admin-reset")
        issued = live.audit("password_reset_issue", user.id)[-1]
        assert issued["actor"] == admin.id and issued["data"]["mailed"] is True
        deadline = time.monotonic() + 10
        while len(live.mail) == before and time.monotonic() < deadline:
            time.sleep(0.1)
        envelope = live.mail[-1]
        assert envelope.rcpt_tos == [user.email]
        body = message_from_bytes(envelope.content, policy=policy.default).get_content()
        link = re.search(r"http://\S+/reset/\S+", body)
        assert link is not None
        fresh = context.browser.new_context()  # type: ignore[union-attr]
        try:
            reset = fresh.new_page()
            reset.goto(link.group(0))
            shot(reset, "reset")
            reset.fill("#new-password", NEW_PASSWORD)
            reset.fill("#new-again", NEW_PASSWORD)
            reset.click("form button.primary")
            expect(reset.locator("#signin-reset")).to_be_visible()
            reset.goto(link.group(0))  # used up
            expect(reset.locator(".error")).to_contain_text("unknown, used or expired")
        finally:
            fresh.close()
        hers.goto("/desk")
        expect(hers).to_have_url(re.compile(r"/signin"))
        assert live.audit("password_reset", user.id)[-1]["data"]["sessions_ended"] == 1
        page = sign_in(mine, user.email, NEW_PASSWORD)
        expect(page.locator(".who")).to_contain_text(user.email)
    finally:
        mine.close()

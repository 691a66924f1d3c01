"""Admin pages: banks (create, threshold, import with progress), keys shown once, people."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import BrowserContext, expect
from ui_helpers import PASSWORD, Live, shot, sign_in

from jikimi.domain import Role


def test_banks_keys_and_people(context: BrowserContext, live: Live, tmp_path: Path) -> None:
    side = live.sides[1]
    page = sign_in(context, side.email(Role.ADMIN))
    page.goto("/admin/banks")
    page.fill("#b-name", "ADMIN_UI")
    page.select_option("#b-kind", "takedown")
    page.fill("#b-threshold", "20")
    page.click('form[action="/admin/banks"] button')
    expect(page.locator("#banks")).to_contain_text("ADMIN_UI")
    page.fill("#t-ADMIN_UI", "12")
    page.click('#banks form[action="/admin/banks/ADMIN_UI"] button')
    expect(page.locator("#t-ADMIN_UI")).to_have_value("12")
    rows = ["signal_type,signal_value"] + [f"md5,{i:032x}" for i in range(1, 301)]
    csv = tmp_path / "hashes.csv"
    csv.write_text("\n".join(rows) + "\n")
    page.set_input_files("#f-ADMIN_UI", str(csv))
    page.click('form[action="/admin/banks/ADMIN_UI/import"] button')
    expect(page).to_have_url(re.compile(r"/admin/imports/imp_"))
    expect(page.locator("#import-state")).to_have_text("done", timeout=60_000)
    expect(page.locator("#import-bar")).to_have_attribute("value", "100")
    expect(page.locator("#import-added")).to_have_text("300")
    shot(page, "admin-import")
    page.goto("/admin/banks")
    shot(page, "admin-banks")

    page.goto("/admin/keys")
    page.fill("#k-name", "upload pipeline")
    page.select_option("#k-role", "platform")
    page.click('form[action="/admin/keys"] button')
    secret = page.locator("#new-key").inner_text()
    assert secret.startswith("jk_")
    with live.api(side) as api:
        api.headers["Authorization"] = f"Bearer {secret}"
        assert api.get("/v1/banks").status_code == 403  # a platform key: scan and match only
    page.goto("/admin/keys")
    expect(page.locator("#keys")).to_contain_text("upload pipeline")
    expect(page.locator("body")).not_to_contain_text(secret)  # shown once
    shot(page, "admin-keys")

    page.goto("/admin/users")
    page.fill("#u-email", "newcurator@other.test")
    page.select_option("#u-role", "curator")
    page.fill("#u-password", PASSWORD)
    page.click('form[action="/admin/users"] button')
    expect(page.locator("#users")).to_contain_text("newcurator@other.test")
    shot(page, "admin-users")
    fresh = context.browser.new_context(base_url=live.base)  # type: ignore[union-attr]
    try:
        curator = sign_in(fresh, "newcurator@other.test")
        expect(curator.locator(".who")).to_contain_text("curator")
        assert curator.goto("/admin/users").status == 403  # type: ignore[union-attr]
    finally:
        fresh.close()

"""The escalation queue: a reviewer escalates with a reason, a senior decides from the queue."""

from __future__ import annotations

import io
import re

from PIL import Image
from playwright.sync_api import BrowserContext, expect
from ui_helpers import Live, held_scan, new_user, shot, sign_in

from jikimi.domain import Role


def test_an_escalated_scan_is_decided_by_someone_else(context: BrowserContext, live: Live) -> None:
    side = live.sides[0]
    scan_id = held_scan(live, side, "coffee.jpg")
    # Their own accounts: the other review tests count the shared reviewer's views.
    reviewer = new_user(live, "escalating@acme.test", Role.REVIEWER)
    admin = new_user(live, "senior@acme.test", Role.ADMIN)
    page = sign_in(context, reviewer.email)
    page.goto(f"/review/{scan_id}")
    page.fill("#escalate-reason", "Could be a minor; legal should look at it.")
    page.click("#escalate-form button")
    expect(page).to_have_url(re.compile(r"/review\?done=escalate$"))
    expect(page.locator(f'#queue a[href="/review/{scan_id}"]')).to_have_count(0)
    escalated = live.audit("review_escalate", scan_id)
    assert escalated[-1]["actor"] == reviewer.id
    assert escalated[-1]["data"]["reason"] == "Could be a minor; legal should look at it."
    page.click("text=Escalations")
    item = page.locator(f'#escalations a[href="/review/{scan_id}"]')
    expect(item).to_contain_text("escalated by escalating@acme.test")
    expect(item).to_contain_text("legal should look at it")
    page.goto(f"/review/{scan_id}")  # she cannot decide what she escalated
    expect(page.locator("#escalation-mine")).to_be_visible()
    expect(page.locator("#escalate-form")).to_have_count(0)
    page.click("#dismiss-form button")
    expect(page.locator(".error")).to_contain_text("another reviewer decides")
    page.close()

    senior = context.browser.new_context(base_url=live.base)  # type: ignore[union-attr]
    try:
        page = sign_in(senior, admin.email)
        page.goto("/review/escalations")
        thumb = page.locator(f'#escalations a[href="/review/{scan_id}"] img.thumb')
        expect(thumb).to_have_attribute("src", f"/review/{scan_id}/preview.jpg")  # blurred
        r = senior.request.get(f"/review/{scan_id}/preview.jpg")
        assert Image.open(io.BytesIO(r.body())).mode == "L"
        shot(page, "escalations")
        page.click(f'#escalations a[href="/review/{scan_id}"]')
        expect(page.locator("#escalation-reason")).to_have_text(
            "Could be a minor; legal should look at it."
        )
        shot(page, "escalation-item")
        page.fill("#case-title", "Escalated upload")  # a case, no bank: other tests scan it
        page.click("#confirm-form button")
        expect(page).to_have_url(re.compile(r"/review/escalations\?done=confirm$"))
        expect(page.locator(f'#escalations a[href="/review/{scan_id}"]')).to_have_count(0)
        expect(page.locator("#escalations-resolved")).to_contain_text(scan_id)
        decided = live.audit("review_confirm", scan_id)
        assert decided[-1]["actor"] == admin.id
        assert decided[-1]["data"]["escalated_by"] == reviewer.id
        assert decided[-1]["data"]["case_id"]
    finally:
        senior.close()

"""The review queue end to end: a held scan, a blurred preview, an audited un-blur, decisions."""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image
from playwright.sync_api import BrowserContext, expect
from ui_helpers import Live, held_scan, shot, sign_in

from jikimi.domain import Role


def _image(page_url: str, context: BrowserContext) -> Image.Image:
    r = context.request.get(page_url)
    assert r.status == 200 and r.headers["content-type"] == "image/jpeg"
    return Image.open(io.BytesIO(r.body()))


def _sharpness(im: Image.Image) -> float:
    """Mean absolute difference of neighbouring pixels: near 0 for a blurred picture."""
    grey = np.asarray(im.convert("L"), dtype=np.float64)
    return float(np.abs(np.diff(grey, axis=1)).mean())


def test_confirm_a_held_scan_after_an_audited_unblur(context: BrowserContext, live: Live) -> None:
    side = live.sides[0]
    scan_id = held_scan(live, side)
    reviewer = side.users[Role.REVIEWER]
    page = sign_in(context, reviewer.email)
    page.click("text=Review queue")
    expect(page.locator("#queue")).to_contain_text("Matches content under watch")
    shot(page, "review-queue")
    page.click(f'a[href="/review/{scan_id}"]')
    expect(page.locator("#seen-today")).to_have_text("1")
    expect(page.locator("#break-banner")).to_be_hidden()  # not before the tenant's minutes
    expect(page.locator("video")).to_have_count(0)  # nothing plays
    blurred = _image(f"/review/{scan_id}/preview.jpg", context)
    assert blurred.mode == "L"  # greyscale
    # Sharp pixels are refused until the deliberate click.
    assert context.request.get(f"/review/{scan_id}/preview.jpg?sharp=1").status == 403
    shot(page, "review-item")
    assert not live.audit("unblur", scan_id)
    page.click("#unblur")
    expect(page.locator("#unblur-note")).to_contain_text("recorded in the audit log")
    unblur = live.audit("unblur", scan_id)
    assert [a["actor"] for a in unblur] == [reviewer.id]
    sharp = _image(f"/review/{scan_id}/preview.jpg?sharp=1", context)
    assert _sharpness(sharp) > 2 * _sharpness(blurred)
    page.select_option("#confirm-bank", "TAKEDOWN_UI")
    page.fill("#case-title", "Held upload confirmed")
    page.click("#confirm-form button")
    expect(page).to_have_url(re.compile(r"/review\?done=confirm$"))
    expect(page.locator(f'a[href="/review/{scan_id}"]')).to_have_count(0)
    decided = live.audit("review_confirm", scan_id)
    assert decided and decided[-1]["actor"] == reviewer.id
    with live.api(side) as api:
        entries = api.get("/v1/banks/TAKEDOWN_UI/entries").json()["entries"]
        assert {e["signal"] for e in entries} == {"pdq", "md5", "sha256"}
        cases = api.get("/v1/cases").json()["cases"]
        assert any(c["title"] == "Held upload confirmed" for c in cases)


def test_dismiss_deletes_the_media_and_can_suppress(context: BrowserContext, live: Live) -> None:
    side = live.sides[0]
    scan_id = held_scan(live, side, "coffee.jpg")
    page = sign_in(context, side.email(Role.ADMIN))
    page.goto(f"/review/{scan_id}")
    page.select_option("#dismiss-bank", "SAFE_UI")
    page.click("#dismiss-form button")
    expect(page).to_have_url(re.compile(r"/review\?done=dismiss$"))
    assert context.request.get(f"/review/{scan_id}/preview.jpg").status == 404
    with live.api(side) as api:
        entries = api.get("/v1/banks/SAFE_UI/entries").json()["entries"]
        assert any(e["signal"] == "pdq" for e in entries)


def test_a_caseworker_has_no_queue(context: BrowserContext, live: Live) -> None:
    page = sign_in(context, live.sides[0].email(Role.CASEWORKER))
    r = page.goto("/review")
    assert r is not None and r.status == 403
    page.goto("/")
    expect(page.locator("nav")).to_contain_text("Cases")
    expect(page.locator("nav")).not_to_contain_text("Review queue")


def test_the_daily_cap_stops_the_queue(context: BrowserContext, live: Live) -> None:
    side = live.sides[1]
    first, second = held_scan(live, side), held_scan(live, side)
    admin = sign_in(context, side.email(Role.ADMIN))
    admin.goto("/admin")
    admin.fill("#daily_cap", "1")
    admin.click("form button.primary")
    try:
        assert admin.goto(f"/review/{first}").status == 200  # type: ignore[union-attr]
        r = admin.goto(f"/review/{second}")
        assert r is not None and r.status == 403
        expect(admin.locator(".error")).to_contain_text("cap of 1 items is reached")
        assert admin.goto(f"/review/{first}").status == 200  # type: ignore[union-attr]
    finally:
        admin.goto("/admin")
        admin.fill("#daily_cap", "300")
        admin.click("form button.primary")


def test_the_break_reminder_comes_after_the_tenants_minutes(
    context: BrowserContext, live: Live
) -> None:
    page = sign_in(context, live.sides[0].email(Role.REVIEWER))
    page.goto("/review")
    expect(page.locator("#break-banner")).to_be_hidden()
    # As if she had started 46 minutes ago (the default reminder is after 45).
    page.evaluate("sessionStorage.setItem('jikimi.review.since', String(Date.now() - 46 * 60000))")
    page.reload()
    expect(page.locator("#break-banner")).to_be_visible()
    page.click("#break-done")
    expect(page.locator("#break-banner")).to_be_hidden()
    page.reload()
    expect(page.locator("#break-banner")).to_be_hidden()

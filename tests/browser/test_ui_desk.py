"""The caseworker's desk end to end: case, host, item, a notice through four eyes, the report."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

from playwright.sync_api import BrowserContext, expect
from ui_helpers import Live, shot, sign_in

from jikimi.domain import Role

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6339c4e9c9b22"


def test_a_case_from_opening_to_the_report(context: BrowserContext, live: Live) -> None:
    side = live.sides[0]
    worker = sign_in(context, side.email(Role.CASEWORKER))
    worker.goto("/desk/hosts")
    worker.fill("#slug", "pictureboard")
    worker.fill("#name", "Picture Board")
    worker.fill("#hlang", "ko")
    worker.fill("#hemail", "abuse@pictureboard.test")
    worker.check('input[name="bases"][value="kcsc"]')
    worker.click("form button.primary")
    expect(worker.locator("#hosts")).to_contain_text("Picture Board")
    shot(worker, "hosts")

    worker.goto("/desk")
    worker.fill("#title", "Board reposts")
    worker.click("form button.primary")
    expect(worker.locator("#case-pin")).to_have_text(re.compile(r"^\d{8}$"))
    number = worker.locator("#case-number").inner_text()
    worker.click("text=…or by hashes")
    worker.fill("#item-url", "https://pictureboard.test/p/1")
    worker.select_option("#item-host", "pictureboard")
    worker.fill("#item-pdq", PDQ)
    worker.click("text=Add item")
    expect(worker.locator("#items")).to_contain_text("pending")
    worker.select_option("#notice-host", "pictureboard")
    worker.click("text=Draft notice")
    expect(worker).to_have_url(re.compile(r"/desk/notices/"))
    notice_url = worker.url
    # Side by side: the host's language (Korean) and hers (English here).
    expect(worker.locator("#notice-host-body")).to_contain_text(number)
    expect(worker.locator("#notice-my-body")).to_contain_text(number)
    host_body = worker.locator("#notice-host-body").inner_text()
    assert host_body != worker.locator("#notice-my-body").inner_text()
    assert re.search(r"[가-힣]", host_body)
    expect(worker.locator("#four-eyes")).to_contain_text("someone other than")
    expect(worker.locator("#approve")).to_have_count(0)  # not hers to approve
    shot(worker, "notice")

    checker_ctx = context.browser.new_context(base_url=live.base)  # type: ignore[union-attr]
    try:
        checker = sign_in(checker_ctx, side.email(Role.REVIEWER))
        checker.goto(notice_url)
        checker.click("#approve")
        expect(checker.locator("#notice-state")).to_have_text("approved")
    finally:
        checker_ctx.close()
    worker.reload()
    worker.click("#send")
    expect(worker.locator("#notice-state")).to_have_text(re.compile("sending|sent"))
    # The casework runner delivers it to the SMTP server on 127.0.0.1.
    for _ in range(60):
        if worker.locator("#notice-state").inner_text() == "sent":
            break
        worker.wait_for_timeout(1000)
        worker.reload()
    expect(worker.locator("#notice-state")).to_have_text("sent")
    mail = [m for m in live.mail if "abuse@pictureboard.test" in m.rcpt_tos]
    assert mail
    message = email.message_from_bytes(mail[0].content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body()
    assert body is not None and number in body.get_content()

    worker.goto("/desk")
    worker.click(f"text={number}")
    expect(worker.locator("#items")).to_contain_text("notified")
    expect(worker.locator("#items .clock")).to_contain_text(re.compile(r"\d+ h \d+ min left"))
    worker.select_option("#items select", "removed")
    worker.click("#items form button")
    expect(worker.locator("#items")).to_contain_text("removed")
    shot(worker, "case")
    worker.goto("/desk")
    expect(worker.locator("#cases")).to_contain_text("Board reposts")
    shot(worker, "cases")
    worker.goto("/desk/report")
    expect(worker.locator("#per-host")).to_contain_text("Picture Board")
    expect(worker.locator("#per-host")).to_contain_text("1 of 1 removed")
    expect(worker.locator("figure svg rect.bar").first).to_be_attached()
    shot(worker, "report")
    assert live.audit("draft") and live.audit("approve")

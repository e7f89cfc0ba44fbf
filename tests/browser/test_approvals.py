"""In a real browser: a send at the department's threshold waits; an approver finds it by the
navigation's badge on /approvals, rejects one without a reason (refused), then approves."""

from __future__ import annotations

import re
import secrets

from loopback import ADMIN_PASSWORD
from smspanel.models import Role
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_pages import expect
from tests.databases import add_department


def members(database_url: str) -> tuple[str, str]:
    """A maker and an approver of a department that holds sends to 3 numbers or more."""
    tag = secrets.token_hex(3)
    maker, checker = f"maker{tag}", f"checker{tag}"
    roles = {maker: Role.SENDER, checker: Role.APPROVER}
    add_department(database_url, f"Schools {tag}", 3, roles, ADMIN_PASSWORD)
    return maker, checker


def compose(page, text: str) -> int:
    page.goto("/compose")
    page.get_by_label("Recipients").fill("9123 0001\n6123 0002\n5123 0003")
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_label("Enquiry number").fill("2833 1234")
    page.get_by_role("button", name="Send SMS").click()
    page.wait_for_url(re.compile(r"/history/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def test_a_large_send_waits_for_an_approver_who_approves_it(page, live_app, gateway):
    maker, checker = members(live_app.database_url)
    log_in(page, maker, ADMIN_PASSWORD)
    message_id = compose(page, "Typhoon signal 8: all schools closed today")
    expect()(page.locator("h1 .status")).to_have_text(re.compile("Awaiting approval"))
    expect()(page.locator(".flash-success")).to_contain_text("awaits approval")
    expect()(page.get_by_role("button", name="Withdraw this send")).to_be_visible()
    compose(page, "Parents' evening moved to Thursday 7 pm")  # a second one waits too
    page.get_by_role("button", name="Log out").click()

    log_in(page, checker, ADMIN_PASSWORD)
    approvals = page.get_by_role("link", name=re.compile(r"^Approvals 2"))
    expect()(approvals).to_be_visible()
    approvals.click()
    card = page.locator(f"#approval-{message_id}")
    expect()(card).to_contain_text("Typhoon signal 8: all schools closed today")
    expect()(card.locator("[data-first-rows] tbody tr")).to_have_count(3)
    screenshot(page, "approvals")

    card.get_by_role("button", name=re.compile("^Reject")).click()
    expect()(page.locator(f"#reason-{message_id}-errors")).to_contain_text(
        "give the reason for rejecting the send"
    )
    page.locator(f"#approval-{message_id}").get_by_role(
        "button", name=re.compile("^Approve")
    ).click()
    expect()(page.locator(".flash-success")).to_contain_text(
        f"Message #{message_id} approved: it is being sent now."
    )
    expect()(page.get_by_role("link", name=re.compile(r"^Approvals 1"))).to_be_visible()
    expect()(page.locator(f"#approval-{message_id}")).to_have_count(0)

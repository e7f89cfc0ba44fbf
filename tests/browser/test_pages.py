"""In a real browser: log in, compose, watch delivery, search, administer users, retry failures.

Each test also saves a screenshot of the pages it visits under docs/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from loopback import ADMIN_PASSWORD, http, wait_until
from tests.browser.conftest import log_in, screenshot

DELIVERY_TIMEOUT_MS = 20_000


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def send_from_compose(
    page,
    recipients: str,
    content: str,
    enquiry: str = "2833 1234",
    fields: Mapping[str, str] | None = None,
    ticked: Sequence[str | re.Pattern[str]] = (),
) -> int:
    """Send from /compose and land on the message's page; `fields` by label, `ticked` boxes."""
    page.goto("/compose")
    page.get_by_label("Recipients").fill(recipients)
    page.get_by_label("Message", exact=True).fill(content)
    page.get_by_label("Enquiry number").fill(enquiry)
    for label, value in (fields or {}).items():
        page.get_by_label(label).fill(value)
    for label in ticked:
        page.get_by_label(label).check()
    page.get_by_role("button", name="Send SMS").click()
    page.wait_for_url(re.compile(r"/history/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def test_login_refuses_wrong_password_then_lets_the_admin_in(page):
    page.goto("/")
    expect()(page).to_have_url(re.compile(r"/login"))
    screenshot(page, "login")
    page.get_by_label("Username").fill("SMSadmin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    summary = page.locator("#error-summary")
    expect()(summary).to_be_focused()
    expect()(summary).to_contain_text("There is a problem")
    expect()(summary).to_contain_text("invalid username or password")
    expect()(page).to_have_title(re.compile(r"^Error: Log in"))
    summary.get_by_role("link").click()  # the summary's link leads to the field
    expect()(page.get_by_label("Username")).to_be_focused()
    log_in(page)
    expect()(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect()(page).to_have_url(re.compile(r"/login$"))


def test_compose_invalid_then_valid_and_watch_it_go_from_pending_to_sent(page, gateway):
    log_in(page)
    page.goto("/compose")
    counter = page.locator("#content-counter")
    page.get_by_label("Message", exact=True).fill("Water supply off 10:00-14:00")
    expect()(counter).to_contain_text("40 / 1000 characters")
    expect()(counter).to_contain_text("GSM-7")
    page.get_by_label("Message", exact=True).fill("明日停水 Water off")
    expect()(counter).to_contain_text("UCS-2")
    page.get_by_label("Recipients").fill("9123 4567\nnot a number\n6123 4567\n1234-5678")
    expect()(page.locator("[data-recipient-count]")).to_have_text("4 recipient lines")
    page.get_by_label("Enquiry number").fill("2833 12")
    page.get_by_role("button", name="Send SMS").click()

    errors = page.locator("#recipients-errors")
    expect()(errors).to_contain_text("Line 2: not a number is not a valid Hong Kong number")
    expect()(errors).to_contain_text("Line 4: 1234-5678 is not a valid Hong Kong number")
    expect()(page.locator("#enquiry_number-errors")).to_contain_text("not a Hong Kong number")
    expect()(page.get_by_label("Recipients")).to_have_value(
        "9123 4567\nnot a number\n6123 4567\n1234-5678"
    )
    expect()(page.get_by_label("Message", exact=True)).to_have_value("明日停水 Water off")
    expect()(page.get_by_label("Enquiry number")).to_have_value("2833 12")
    screenshot(page, "compose-errors")

    page.get_by_label("Recipients").fill("9123 4567\n6123 4567")
    page.get_by_label("Enquiry number").fill("2833 1234")
    expect()(counter).to_contain_text("26 / 1000 characters")  # 14 typed + " EN:28331234"
    screenshot(page, "compose")
    page.get_by_role("button", name="Send SMS").click()
    page.wait_for_url(re.compile(r"/history/\d+$"))

    badge = page.locator("h1 .status")
    expect()(badge).to_have_text(re.compile("Pending"))
    progress = page.locator("[data-progress]")
    expect()(progress).to_be_visible()
    screenshot(page, "message-pending")
    expect()(badge).to_have_text(re.compile("Sent"), timeout=DELIVERY_TIMEOUT_MS)
    expect()(progress).to_have_attribute("data-progress-state", "final")
    expect()(page.locator("table.recipients")).to_contain_text("9123 4567")
    expect()(page.locator("table.recipients tbody tr .status-sent")).to_have_count(2)
    screenshot(page, "message-sent")

    sent = [m for m in gateway.received(messages=True)["messages"] if m["mrt"] == "85291234567"]
    assert sent and sent[-1]["msg_utf8"] == "明日停水 Water off EN:28331234"


def test_history_search_and_status_filter(page):
    log_in(page)
    first = send_from_compose(page, "5123 0001", "Road works on Nathan Road")
    second = send_from_compose(page, "5123 0002", "Library closed on Monday")
    page.goto("/history")
    page.get_by_label("Search").fill("nathan")
    page.get_by_role("button", name="Filter").click()
    expect()(page).to_have_url(re.compile(r"search=nathan"))
    rows = page.locator("table.messages tbody tr")
    expect()(rows).to_have_count(1)
    expect()(rows.first).to_contain_text(f"#{first}")
    page.get_by_label("Search").fill("5123 0002")
    page.get_by_role("button", name="Filter").click()
    expect()(rows).to_have_count(1)
    expect()(rows.first).to_contain_text(f"#{second}")
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect()(page.locator("table.messages tbody tr", has_text="Library closed")).to_have_count(0)
    page.goto("/history")
    expect()(page.locator("table.messages")).to_contain_text("HKT")
    screenshot(page, "history")
    page.goto("/admin/messages")
    expect()(page.get_by_role("heading", name="All users' messages")).to_be_visible()
    screenshot(page, "admin-messages")


def test_admin_user_lifecycle(page, browser, live_app):
    log_in(page)
    page.goto("/admin/users")
    page.get_by_role("link", name="Create new user").click()
    page.get_by_label("Username").fill("officer1")
    page.locator("#password").fill("short")
    page.locator("#confirm_password").fill("short")
    page.get_by_role("button", name="Create user").click()
    expect()(page.locator("#password-errors")).to_contain_text("at least 12 characters")
    expect()(page.get_by_label("Username")).to_have_value("officer1")
    screenshot(page, "admin-user-create")
    page.locator("#password").fill("first password 1")
    page.locator("#confirm_password").fill("first password 1")
    page.get_by_role("button", name="Create user").click()
    expect()(page.locator(".flash-success")).to_contain_text("Created user officer1.")
    row = page.locator("tr", has_text="officer1")

    row.get_by_role("link", name="Change password").click()
    expect()(page.get_by_role("heading")).to_contain_text("officer1")
    screenshot(page, "admin-user-password")
    page.locator("#password").fill("second password 2")
    page.locator("#confirm_password").fill("second password 2")
    page.get_by_role("button", name="Change password").click()
    expect()(page.locator(".flash-success")).to_contain_text("Password changed for officer1.")
    assert live_app.token("officer1", "second password 2")

    row.get_by_role("button", name="Disable").click()
    expect()(page.locator(".flash-success")).to_contain_text("officer1 is now disabled.")
    expect()(row).to_contain_text("Disabled")
    status, _ = http(
        "POST",
        f"{live_app.base}/api/auth/login",
        {"username": "officer1", "password": "second password 2"},
    )
    assert status == 401
    row.get_by_role("button", name="Enable").click()
    expect()(page.locator(".flash-success")).to_contain_text("officer1 is now enabled.")
    expect()(row).to_contain_text("Active")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Regenerate token").click()
    token_box = page.get_by_label("API token", exact=True)
    expect()(token_box).to_have_value(re.compile(r"^smsp_"))
    token = token_box.input_value()
    screenshot(page, "admin-users-token")
    status, body = http("GET", f"{live_app.base}/api/sms", token=token)
    assert status == 200, body
    page.goto(f"{live_app.base}/admin/users")  # shown in the POST's answer only
    expect()(page.get_by_label("API token", exact=True)).to_have_count(0)
    row = page.locator("tr", has_text="officer1")

    row.get_by_role("link", name="Delete").click()
    expect()(page.locator("main")).to_contain_text("will be kept in the history")
    screenshot(page, "admin-user-delete")
    page.get_by_role("button", name="Delete officer1").click()
    expect()(page.locator(".flash-success")).to_contain_text("Deleted officer1.")
    expect()(page.locator("tr", has_text="officer1")).to_have_count(0)
    screenshot(page, "admin-users")
    status, _ = http("GET", f"{live_app.base}/api/sms", token=token)
    assert status == 401


def test_a_failed_recipient_reaches_the_dead_letter_page_and_can_be_retried(page, gateway):
    log_in(page)
    message_id = send_from_compose(page, "6999 0001", "This notice has an error in it")
    expect()(page.locator("h1 .status")).to_have_text(
        re.compile("Failed"), timeout=DELIVERY_TIMEOUT_MS
    )
    expect()(page.locator("table.recipients")).to_contain_text("HTTP 401")
    rejected_before = gateway.received()["rejected"]

    page.goto("/admin/dead-letter?status=pending")
    row = page.locator("tr", has_text="6999 0001")
    expect()(row).to_contain_text("Pending")
    screenshot(page, "dead-letter")
    row.get_by_role("button", name="Retry").click()
    expect()(page.locator(".flash-success")).to_contain_text("back in the delivery queue")
    page.goto(f"/history/{message_id}")
    # The mock still refuses "error", so the retry goes out and fails again, reopening the entry.
    wait_until(
        lambda: gateway.received()["rejected"] > rejected_before,
        20,
        what="the retried SMS to reach the gateway",
    )
    expect()(page.locator("h1 .status")).to_have_text(
        re.compile("Failed"), timeout=DELIVERY_TIMEOUT_MS
    )
    page.goto("/admin/dead-letter")
    row = page.locator("tr", has_text="6999 0001")
    expect()(row).to_contain_text("Pending")
    expect()(row.locator("td[data-label=Retries]")).to_contain_text("1")


def test_dashboard_and_the_phone_layout(page, phone_page):
    log_in(page)
    send_from_compose(page, "9876 5432", "Dashboard sample notice")
    page.goto("/?time_filter=7d")
    expect()(page.locator("svg[role=img]")).to_be_visible()
    expect()(page.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "true")
    screenshot(page, "dashboard")

    log_in(phone_page)
    screenshot(phone_page, "phone-dashboard")
    phone_page.goto("/compose")
    screenshot(phone_page, "phone-compose")
    phone_page.goto("/history")
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the history page scrolls sideways on a phone"
    screenshot(phone_page, "phone-history")


def test_keyboard_alone_can_log_in_and_reach_compose(page):
    page.goto("/login")
    expect()(page.get_by_label("Username")).to_be_focused()  # autofocus: type straight away
    page.keyboard.type("SMSadmin")
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/")
    expect()(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect()(page.locator("#flashes")).to_be_focused()  # "Welcome" is read first
    for _ in range(25):  # back up through the header to the navigation
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Compose":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/compose")
    expect()(page.get_by_role("heading", name="Compose a message")).to_be_visible()

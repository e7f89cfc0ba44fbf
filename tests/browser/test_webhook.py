"""In a real browser: set a webhook from the header's link, see its secret once, make a new
one and remove the webhook, each after a confirmation; on a phone nothing is wider than
the screen."""

from __future__ import annotations

import re

from tests.browser.conftest import log_in
from tests.browser.test_chinese import OVERFLOW
from tests.browser.test_csp import RECORD_VIOLATIONS

# .invalid never resolves (RFC 6761): accepted now, checked again before each POST.
RECEIVER = "https://receiver.invalid/smspanel-events"
SECRET = re.compile(r"whsec_[A-Za-z0-9_-]{40,}")


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_set_see_the_secret_once_rotate_and_remove(phone_page):
    page = phone_page
    page.add_init_script(RECORD_VIOLATIONS)
    log_in(page)
    page.get_by_role("link", name="Webhook").click()
    expect()(page).to_have_url(re.compile(r"/account/webhook$"))

    page.get_by_label("URL").fill("http://receiver.invalid/typed")
    page.get_by_label("message.final").uncheck()
    page.get_by_role("button", name="Save webhook").click()
    summary = page.locator("#error-summary")
    expect()(summary).to_contain_text("URL: The URL must use https://")
    expect()(summary).to_contain_text("Events: Choose at least one event.")
    expect()(page.get_by_label("URL")).to_have_value("http://receiver.invalid/typed")
    expect()(summary).to_be_focused()
    events_link = summary.get_by_role("link", name=re.compile("^Events"))
    expect()(events_link).to_have_attribute("href", "#events")
    expect()(page.locator("#events")).to_have_attribute("value", "message.final")

    page.get_by_label("URL").fill(RECEIVER)
    page.get_by_label("message.final").check()
    page.get_by_label("recipient.final").check()
    page.get_by_role("button", name="Save webhook").click()
    secret = page.get_by_label("Secret", exact=True)
    expect()(secret).to_have_value(SECRET)
    first = secret.input_value()
    assert page.evaluate(OVERFLOW) <= 1

    page.goto("/account/webhook")
    expect()(page.get_by_label("Secret", exact=True)).to_have_count(0)
    expect()(page.get_by_label("URL")).to_have_value(RECEIVER)
    expect()(page.get_by_label("recipient.final")).to_be_checked()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Make a new secret").click()
    expect()(page.locator(".flash-success")).to_contain_text("New secret made.")
    rotated = page.get_by_label("Secret", exact=True).input_value()
    assert SECRET.fullmatch(rotated) and rotated != first

    page.goto("/account/webhook")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Remove webhook").click()
    expect()(page.get_by_label("URL")).to_have_value(RECEIVER)  # dismissed: nothing posted
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove webhook").click()
    expect()(page.locator(".flash-success")).to_contain_text("Webhook removed.")
    expect()(page.get_by_text("No webhook is set: no events are sent.")).to_be_visible()
    assert page.evaluate(OVERFLOW) <= 1
    assert page.evaluate("window.cspViolations") == []

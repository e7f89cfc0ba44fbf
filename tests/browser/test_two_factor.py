"""In a real browser: set up two-factor sign-in from the key the page shows, log out, and log
in again with the password and then a code."""

from __future__ import annotations

import re

import pyotp

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.totp_codes import previous_steps_code

USERNAME = "officer2fa"
PASSWORD = "two factor password 1"


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def create_user(page) -> None:
    log_in(page)
    page.goto("/admin/users/create")
    page.get_by_label("Username").fill(USERNAME)
    page.locator("#password").fill(PASSWORD)
    page.locator("#confirm_password").fill(PASSWORD)
    page.get_by_role("button", name="Create user").click()
    expect()(page.locator(".flash-success")).to_contain_text(f"Created user {USERNAME}.")
    page.get_by_role("button", name="Log out").click()


def test_enrol_with_the_key_shown_then_log_in_with_a_code(page):
    page.add_init_script(RECORD_VIOLATIONS)
    create_user(page)
    log_in(page, USERNAME, PASSWORD)

    page.get_by_role("link", name="Two-factor sign-in").click()
    expect()(page).to_have_url(re.compile(r"/account/2fa$"))
    qr_code = page.locator("svg.qr-code")
    expect()(qr_code).to_be_visible()
    assert qr_code.bounding_box()["width"] >= 150  # big enough for a phone's camera
    secret = page.locator("#totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    screenshot(page, "two-factor-enrol")
    totp = pyotp.TOTP(secret)

    page.get_by_label("Code from the app").fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect()(page.locator("#code-errors")).to_contain_text("the code is not right")
    # The previous step's code: the login below then uses the current one (no replay).
    page.get_by_label("Code from the app").fill(previous_steps_code(totp, margin=10))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect()(page.locator(".flash-success")).to_contain_text("Two-factor sign-in is on.")
    expect()(page.locator("[data-recovery-codes] li")).to_have_count(10)
    screenshot(page, "two-factor-recovery-codes")
    assert page.evaluate("window.cspViolations") == []
    page.get_by_role("button", name="Log out").click()

    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect()(page).to_have_url(re.compile(r"/login/2fa$"))
    screenshot(page, "two-factor-login")
    page.get_by_label("Code").fill(totp.now())
    page.get_by_role("button", name="Log in").click()
    expect()(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect()(page.locator(".whoami")).to_contain_text(USERNAME)

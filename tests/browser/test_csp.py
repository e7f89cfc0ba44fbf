"""In a real browser, the strict Content-Security-Policy blocks nothing the pages need."""

from __future__ import annotations

import re

from tests.browser.conftest import log_in

# Runs before any page script: every violation is kept on the window, whatever the console says.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.cspViolations.push(event.violatedDirective + " blocked " + (event.blockedURI || "inline")
    + " at " + event.sourceFile + ":" + event.lineNumber);
});
"""


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_no_page_breaks_the_content_security_policy(page):
    problems: list[str] = []

    def on_console(message) -> None:
        # The browser's own request for /favicon.ico (there is none) is not the pages' doing.
        if message.type in ("error", "warning") and not message.location["url"].endswith(
            "/favicon.ico"
        ):
            problems.append(f"{message.text} ({message.location['url']})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.add_init_script(RECORD_VIOLATIONS)

    def check(where: str) -> None:
        violations = page.evaluate("window.cspViolations || []")
        assert (violations, problems) == ([], []), where

    log_in(page)
    check("login")
    page.goto("/compose")
    page.get_by_label("Recipients").press_sequentially("9123 4567\n6123 4567")
    page.get_by_label("Message", exact=True).press_sequentially("Water off 明日")
    page.get_by_label("Enquiry number").fill("2833 1234")
    expect()(page.locator("[data-recipient-count]")).to_have_text(
        "2 recipient lines"
    )  # the counter ran
    expect()(page.locator("#content-counter")).to_contain_text("UCS-2")
    check("compose")
    page.get_by_role("button", name="Send SMS").click()
    page.wait_for_url(re.compile(r"/history/\d+$"))
    check("message detail")
    for path in ("/", "/history", "/admin/users", "/admin/dead-letter", "/api/docs"):
        page.goto(path)
        page.wait_for_load_state("load")
        check(path)
    expect()(page.locator("h2").first).to_have_css("border-bottom-style", "solid")  # docs CSS

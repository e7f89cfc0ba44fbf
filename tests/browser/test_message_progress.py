"""In a real browser: a message's page follows its delivery in place. It never reloads, the
keyboard focus stays where the reader left it, the final sentence is said once in a polite
live region, and "Pause updates" really stops the questions (WCAG 2.2.1, 2.2.2, 4.1.3).
Each test sends to its own numbers: the browser tests share one live app."""

from __future__ import annotations

import re

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_pages import DELIVERY_TIMEOUT_MS, send_from_compose

PROGRESS = re.compile(r"/history/\d+/progress\.json")


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def focused(page) -> str:
    return page.evaluate(
        "document.activeElement.getAttribute('data-progress-pause') !== null ? 'pause' : "
        "document.activeElement.textContent.trim()"
    )


def test_the_page_updates_in_place_and_keeps_the_focus(page):
    log_in(page)
    message_id = send_from_compose(page, "5123 7101\n5123 7102", "Lift out of service")
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))
    page.evaluate("window.notReloaded = true")
    expect()(page.locator("h1 .status")).to_have_text(re.compile("Pending"))
    expect()(page.get_by_role("button", name="Pause updates")).to_have_attribute(
        "aria-pressed", "false"
    )
    assert page.locator('meta[http-equiv="refresh"]').count() == 0

    download = page.get_by_role("link", name="Download CSV")
    download.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # by keyboard, as a reader would come to it
    assert focused(page) == "Download CSV"

    announcement = page.locator("[data-progress-announcement]")
    expect()(announcement).to_have_attribute("aria-live", "polite")
    expect()(announcement).to_have_text(
        "All recipients done: 2 sent, 0 failed.", timeout=DELIVERY_TIMEOUT_MS
    )
    expect()(page.locator("h1 .status")).to_have_text(re.compile("Sent"))
    expect()(page.locator("[data-sent-count]")).to_have_text("2")
    expect()(page.locator("[data-pending-count]")).to_have_text("0")
    expect()(page.locator("table.recipients tbody tr .status-sent")).to_have_count(2)
    expect()(page.locator("[data-completed-at] time")).to_have_count(1)
    expect()(page.locator("[data-progress-text]")).to_have_text(
        "All recipients done: 2 sent, 0 failed."
    )
    expect()(page.get_by_role("button", name="Pause updates")).to_be_hidden()
    expect()(page.locator("[data-cancel-form]")).to_be_hidden()
    assert focused(page) == "Download CSV"
    assert page.evaluate("window.notReloaded") is True and loads == []
    assert page.url.endswith(f"/history/{message_id}")
    screenshot(page, "message-progress-final")

    # What the script built is what the server renders: a reload changes nothing shown.
    def shown():
        cells = "[data-message-status], [data-completed-at], tbody td"
        return [
            re.sub(r'\s*data-shown="[^"]*"', "", html)
            for html in page.locator(cells).evaluate_all("nodes => nodes.map(n => n.innerHTML)")
        ]

    updated = shown()
    page.reload()
    assert shown() == updated


def test_pause_stops_the_updates_and_resume_brings_them_back(page):
    log_in(page)
    asked: list[str] = []
    page.on(
        "request",
        lambda request: asked.append(request.url) if PROGRESS.search(request.url) else None,
    )
    send_from_compose(page, "5123 7201", "Typhoon signal 8: office closed")
    pause = page.get_by_role("button", name="Pause updates")
    pause.focus()
    page.keyboard.press("Space")
    expect()(pause).to_have_attribute("aria-pressed", "true")
    expect()(page.locator("[data-progress-paused]")).to_be_visible()
    expect()(page.locator("[data-progress-running]")).to_be_hidden()
    paused_at = len(asked)
    page.wait_for_timeout(7000)  # past the delivery (2.5 s at the mock) and two intervals
    assert len(asked) == paused_at, "no question while paused"
    expect()(page.locator("h1 .status")).to_have_text(re.compile("Pending"))
    expect()(page.locator("[data-progress-announcement]")).to_have_text("")
    assert focused(page) == "pause"
    screenshot(page, "message-progress-paused")

    page.keyboard.press("Enter")
    expect()(pause).to_have_attribute("aria-pressed", "false")
    expect()(page.locator("[data-progress-announcement]")).to_have_text(
        "All recipients done: 1 sent, 0 failed."
    )
    expect()(page.locator("h1 .status")).to_have_text(re.compile("Sent"))
    assert focused(page) == "pause"  # still on the button: hidden only once focus leaves it
    page.keyboard.press("Tab")
    expect()(pause).to_be_hidden()


def test_the_final_sentence_in_chinese(page, live_app):
    log_in(page)
    page.context.add_cookies([{"name": "lang", "value": "zh-Hant", "url": live_app.base}])
    page.goto("/compose")
    page.locator("#recipients").fill("5123 7301")
    page.locator("#content").fill("明日停水")
    page.locator("#enquiry_number").fill("2833 1234")
    page.locator("#compose-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/history/\d+$"))
    expect()(page.get_by_role("button", name="暫停更新")).to_be_visible()
    expect()(page.locator("[data-progress-announcement]")).to_have_text(
        "全部收件人已完成：已發送 1 個、失敗 0 個。", timeout=DELIVERY_TIMEOUT_MS
    )
    expect()(page.locator("h1 .status")).to_contain_text("已發送")
    expect()(page.locator(".sms-bubble")).to_have_attribute("lang", "zh-Hant-HK")


def test_without_javascript_nothing_refreshes_by_itself(browser, live_app):
    from tests.browser.conftest import open_tab

    tab = open_tab(browser, live_app, java_script_enabled=False)
    page = next(tab)
    try:
        log_in(page)
        message_id = send_from_compose(page, "5123 7401", "Road closure notice")
        expect()(page.locator("[data-progress]")).to_be_visible()
        assert page.locator('meta[http-equiv="refresh"]').count() == 0
        expect()(page.get_by_role("button", name="Pause updates")).to_be_hidden()
        loads: list[str] = []
        page.on("load", lambda: loads.append(page.url))
        page.wait_for_timeout(4000)
        assert loads == []
        expect()(page.locator("h1 .status")).to_have_text(re.compile("Pending"))
        refresh = page.get_by_role("link", name="Refresh this page for the latest figures")
        refresh.click()
        page.wait_for_url(f"**/history/{message_id}")
        expect()(page.locator("h1 .status")).to_have_text(re.compile("Sent"))
        expect()(page.locator("[data-progress]")).to_have_count(0)
    finally:
        next(tab, None)

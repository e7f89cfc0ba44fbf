"""In a real browser: the opt-out register (add, find, remove with a reason) and the
do-not-call register's import page followed until the new copy is in use; screenshots of
both pages in English and in Traditional Chinese go under docs/screenshots/."""

from __future__ import annotations

import secrets

from loopback import App
from tests.browser.conftest import log_in, open_tab, screenshot


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_numbers_are_added_found_and_removed_only_with_a_reason(page, live_app: App):
    first = 90_000_000 + secrets.randbelow(9_000_000)  # this run's own numbers
    numbers = [str(first), str(first + 1)]
    log_in(page)
    page.goto("/admin/opt-outs")
    page.get_by_label("Phone numbers").fill(f"{numbers[0][:4]} {numbers[0][4:]}\n+852 {numbers[1]}")
    page.locator("#reason").fill("replied STOP")
    page.get_by_role("button", name="Add to the register").click()
    expect()(page.locator(".flash-success")).to_contain_text("2 numbers added")
    row = page.locator(f"#opt-out-{numbers[0]}")
    expect()(row).to_contain_text("replied STOP")
    expect()(row).to_contain_text("SMSadmin")
    screenshot(page, "opt-outs")

    page.get_by_label("Search by number").fill(numbers[0])
    page.get_by_role("button", name="Search", exact=True).click()
    expect()(page.locator("#history-title")).to_contain_text("History of")

    remove = page.locator(f"#opt-out-{numbers[0]}")
    remove.get_by_role("button", name="Remove").click()  # no reason: refused, and said why
    expect()(remove.locator(".field-errors")).to_contain_text("give the reason")
    remove.get_by_placeholder("reason, e.g. consent given again").fill("consent given again")
    remove.get_by_role("button", name="Remove").click()
    expect()(page.locator(".flash-success")).to_contain_text("its record is kept")
    page.goto(f"/admin/opt-outs?search={numbers[0]}")
    expect()(page.locator("section.card")).to_contain_text("consent given again")


def test_a_register_file_is_imported_and_the_page_shows_the_copy(page, live_app: App, tmp_path):
    register = tmp_path / "dnc_register.txt"
    register.write_text("Telephone\n" + "\n".join(str(61_000_000 + n) for n in range(5000)) + "\n")
    log_in(page)
    page.goto("/admin/dnc")
    page.get_by_label("Register file").set_input_files(str(register))
    page.get_by_role("button", name="Upload and import").click()
    expect()(page.locator(".flash-success")).to_contain_text("5,000 numbers are loading")
    for _ in range(30):  # look again until the import is done, as its reader would
        page.goto("/admin/dnc")
        if (
            page.locator("[data-number-count]").count()
            and not page.locator("[data-import-loading]").count()
        ):
            break
        page.wait_for_timeout(500)
    expect()(page.locator("[data-number-count]")).to_have_text("5,000")
    screenshot(page, "dnc-register")


def test_both_pages_in_traditional_chinese(browser, live_app: App):
    for page in open_tab(
        browser,
        live_app,
        viewport={"width": 1280, "height": 860},
    ):
        log_in(page)
        page.context.add_cookies([{"name": "lang", "value": "zh-Hant", "url": live_app.base}])
        page.goto("/admin/opt-outs")
        expect()(page.locator("h1")).to_have_text("拒收名單")
        screenshot(page, "opt-outs-zh")
        page.goto("/admin/dnc")
        expect()(page.locator("h1")).to_have_text("拒收訊息登記冊")
        screenshot(page, "dnc-register-zh")

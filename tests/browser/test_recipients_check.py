"""In a real browser, /compose says above the send button, as the numbers are typed, how many
will be skipped and why, in the page's language."""

from __future__ import annotations

from loopback import ADMIN_PASSWORD
from tests.browser.conftest import log_in, open_tab


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_compose_says_how_many_numbers_will_be_skipped_and_why(page):
    log_in(page)
    page.goto("/compose")
    check = page.locator("#recipients-check")
    expect()(check).to_be_hidden()
    page.get_by_label("Recipients").press_sequentially("9123 4567\n2833 1234\n7100 1234")
    expect()(check).to_have_text("2 of 3 numbers will be skipped: 1 fixed line, 1 pager.")
    page.get_by_label("Recipients").press_sequentially("\n4000 1234")
    expect()(check).to_contain_text("2 of 4 numbers will be skipped")
    expect()(check).to_contain_text(
        "1 number is not in Hong Kong's numbering plan data; it is sent anyway."
    )
    page.get_by_label("Message", exact=True).fill("Sale")
    page.get_by_label("Enquiry number").fill("2833 1234")
    page.get_by_label("Commercial message (promotion or offer)").check()
    expect()(check).to_contain_text("With the unsubscribe statement: 65 characters")


def test_the_sentence_is_in_hong_kong_chinese_for_a_chinese_browser(browser, live_app):
    for page in open_tab(browser, live_app, locale="zh-HK", extra_http_headers={
        "Accept-Language": "zh-HK"
    }):  # fmt: skip
        page.goto("/login")  # in Chinese too, for this browser
        page.get_by_label("用戶名稱").fill("SMSadmin")
        page.get_by_label("密碼").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="登入").click()
        page.wait_for_url("**/")
        page.goto("/compose")
        page.locator("#recipients").press_sequentially("9123 4567\n2833 1234")
        expect()(page.locator("#recipients-check")).to_have_text(
            "2 個號碼中有 1 個將會略過：1 個固網電話。"
        )

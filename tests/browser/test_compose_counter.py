"""In a real browser: the page's counter gives the core's figures for the same texts, names
what forces UCS-2 and replaces it in one click, shows the whole send's cost, and speaks
Chinese."""

from __future__ import annotations

import re

from smspanel.services.compose import preview_content
from smspanel.services.content import characters_forcing_ucs2, measure, replace_with_gsm7
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.services.test_segments import BOUNDARY_CASES, GRIN, LIFT


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


MIXED = [
    "Don\u2019t forget \u201cWater off\u201d\u2026 10:00\u201314:00",
    "Meeting\uff1a3/F\uff0c Room A\u3002",
    "請乘" + LIFT + "到三樓 " + GRIN,
    "Fee €5 [cash] {card} ^~\\|",
    "Mr 陳\u2019s notice\tre: lift",
]
TEXTS = [text for text, *_ in BOUNDARY_CASES] + MIXED


def page_count(page) -> tuple[str, int, int, int]:
    box = page.locator("#content-counter")
    return (
        box.get_attribute("data-measured-encoding"),
        int(box.get_attribute("data-measured-characters")),
        int(box.get_attribute("data-measured-units")),
        int(box.get_attribute("data-measured-segments")),
    )


def core_count(text: str) -> tuple[str, int, int, int]:
    counted = measure(text)
    return counted.encoding, counted.characters, counted.units, counted.segments


def named_on_page(page) -> list[str]:
    return page.locator("[data-forcing-list] li code:first-child").all_inner_texts()


def named_by_core(text: str) -> list[str]:
    return [f.character if f.character.strip() else "␣" for f in characters_forcing_ucs2(text)]


def test_the_page_counts_every_text_as_the_core_does(page):
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    log_in(page)
    page.goto("/templates/new")  # counted as written: the texts' own boundaries
    content = page.locator("#content")
    for text in TEXTS:
        content.fill(text)
        assert page_count(page) == core_count(text), repr(text)
        assert named_on_page(page) == named_by_core(text), repr(text)

    page.goto("/compose")  # with the enquiry suffix
    page.get_by_label("Enquiry number").fill("2833 1234")
    content = page.get_by_label("Message", exact=True)
    for text in TEXTS:
        content.fill(text)
        sms = preview_content(text, "2833 1234")
        assert page_count(page) == core_count(sms), repr(text)
        assert named_on_page(page) == named_by_core(sms), repr(text)
    assert problems == []


def test_one_click_replaces_the_characters_that_force_ucs2(page):
    page.add_init_script(RECORD_VIOLATIONS)
    log_in(page)
    page.goto("/compose")
    typed = "Don\u2019t forget\uff0c water off 10:00\u201314:00\u2026 bring a bucket"
    content = page.get_by_label("Message", exact=True)
    content.fill(typed)
    page.get_by_label("Enquiry number").fill("2833 1234")
    counter = page.locator("#content-counter")
    expect()(counter).to_contain_text("UCS-2 (Unicode)")
    forcing = page.locator("[data-forcing]")
    expect()(forcing).to_contain_text("Not in GSM-7")
    expect()(forcing).to_contain_text("U+2019 at character 4 → '")
    expect()(forcing).to_contain_text("U+2026 at character 36 → ...")
    screenshot(page, "compose-ucs2-characters")

    page.get_by_role("button", name="Replace with GSM characters").click()
    expect()(content).to_have_value(replace_with_gsm7(typed))
    expect()(content).to_be_focused()
    expect()(counter).to_contain_text("GSM-7")
    expect()(forcing).to_be_hidden()
    assert page_count(page) == core_count(preview_content(replace_with_gsm7(typed), "2833 1234"))
    assert page.evaluate("window.cspViolations") == []


def test_no_button_when_a_character_has_no_gsm_equivalent(page):
    log_in(page)
    page.goto("/compose")
    page.get_by_label("Message", exact=True).fill("Mr 陳\u2019s notice about the lift")
    expect()(page.locator("[data-forcing]")).to_contain_text("no GSM equivalent")
    expect()(page.get_by_role("button", name="Replace with GSM characters")).to_be_hidden()


def test_the_preview_shows_the_whole_sends_segments_and_tells_a_screen_reader_once(page):
    log_in(page)
    page.goto("/compose")
    page.get_by_label("Recipients").fill("9123 4567\n6123 4567\n+852 9123 4567\n\n5123 0000")
    page.get_by_label("Message", exact=True).fill("中" * 60)
    total = page.locator("[data-send-total]")
    expect()(total).to_have_text("3 recipients × 2 segments = 6 SMS")
    preview = page.locator("[data-preview]")
    expect()(preview).to_have_attribute("lang", "zh-Hant-HK")  # as the server would mark it
    send = page.get_by_role("button", name="Send SMS")
    assert total.bounding_box()["y"] < send.bounding_box()["y"]  # read before the button

    # One live region, and it speaks a sentence once typing pauses, not every figure.
    assert page.locator("#content-counter[aria-live], #content-counter [aria-live]").count() == 0
    assert page.locator("#recipients-count[aria-live]").count() == 0
    status = page.locator("[data-counter-announcement]")
    expect()(status).to_have_attribute("aria-live", "polite")
    page.get_by_label("Message", exact=True).press_sequentially("abc", delay=50)
    expect()(status).to_have_text("75 characters, 2 SMS each, 6 SMS for 3 recipients.")
    page.get_by_label("Message", exact=True).fill("Mr 陳 will call about the lift")
    expect()(preview).not_to_have_attribute("lang", re.compile(".*"))


def test_the_whole_send_counts_the_numbers_sent_and_the_unsubscribe_statement(page):
    """A fixed line is skipped, and a commercial send carries the statement (140 GSM-7
    characters become 3 UCS-2 segments): the cost before the button is what the send takes."""
    log_in(page)
    page.goto("/compose")
    page.get_by_label("Recipients").fill("9123 4567\n2833 1234")
    page.get_by_label("Message", exact=True).fill("a" * 140)
    page.get_by_label("Enquiry number").fill("2833 1234")
    total = page.locator("[data-send-total]")
    expect()(total).to_have_text("1 recipient × 1 segment = 1 SMS")
    box = page.get_by_label("Commercial message (promotion or offer)")
    box.check()
    expect()(total).to_have_text("1 recipient × 3 segments = 3 SMS")
    sms = preview_content("a" * 140, "2833 1234", box.get_attribute("data-statement"))
    assert page_count(page) == core_count(sms) == ("UCS-2", 201, 201, 3)
    expect()(page.locator("[data-preview]")).to_have_text(sms)
    page.get_by_role("button", name="Send SMS").click()
    expect()(page.locator("#flashes")).to_contain_text(
        "This send: 1 recipient × 3 segments = 3 SMS."
    )


def test_the_counter_in_chinese(page, live_app):
    log_in(page)
    page.context.add_cookies([{"name": "lang", "value": "zh-Hant", "url": live_app.base}])
    page.goto("/compose")
    page.locator("#recipients").fill("9123 4567\n6123 4567")
    page.locator("#content").fill("Don\u2019t forget\uff0c water off")
    page.locator("#enquiry_number").fill("2833 1234")
    counter = page.locator("#content-counter")
    expect()(counter).to_contain_text("35 / 1000 字元 · 1 段 · UCS-2（統一碼）")
    expect()(counter).to_contain_text("以下字元不屬 GSM-7")
    expect()(counter).to_contain_text("U+2019 位於第 4 個字元 → '")
    expect()(page.locator("[data-send-total]")).to_have_text("2 位收件人 × 1 段 = 2 個短訊")
    expect()(page.locator("[data-recipient-count]")).to_have_text("2 行收件人")
    screenshot(page, "compose-zh-hant")
    page.get_by_role("button", name="以 GSM 字元取代").click()
    expect()(counter).to_contain_text("35 / 1000 字元 · 1 段 · GSM-7")
    expect()(page.locator("[data-counter-announcement]")).to_have_text(
        "35 個字元，每位 1 個短訊，2 位收件人共 2 個短訊。"
    )


RECORD_ANNOUNCEMENTS = """
window.announcements = [];
document.addEventListener("DOMContentLoaded", () => {
  const region = document.querySelector("[data-counter-announcement]");
  if (!region) return;
  new MutationObserver(() => window.announcements.push(region.textContent))
    .observe(region, { childList: true, characterData: true, subtree: true });
});
"""


def test_typing_gives_one_sentence_once_it_pauses_not_one_per_key(page):
    """WCAG 4.1.3 without the noise: nine keys, one polite announcement, after typing stops;
    the figures themselves are no live region, and the plural follows the number."""
    page.add_init_script(RECORD_ANNOUNCEMENTS)
    log_in(page)
    page.goto("/templates/new")
    assert page.locator("[aria-live]").count() == 1  # the announcement, nothing else
    content = page.locator("#content")
    content.press_sequentially("Road work", delay=120)  # each key well inside the pause
    assert page.evaluate("window.announcements") == []  # nothing while typing
    status = page.locator("[data-counter-announcement]")
    expect()(status).to_have_text("9 characters, 1 SMS.")
    page.wait_for_timeout(1200)
    assert page.evaluate("window.announcements") == ["9 characters, 1 SMS."]

    content.fill("")
    content.press_sequentially("A")
    expect()(status).to_have_text("1 character, 1 SMS.")
    content.press_sequentially("\u2019s fine")  # a curly quote: UCS-2, and the sentence says why
    expect()(status).to_have_text("8 characters, 1 SMS (1 character is not in GSM-7).")
    assert len(page.evaluate("window.announcements")) == 3

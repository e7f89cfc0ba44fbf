"""Message text is marked with its language where it is Chinese (WCAG 3.1.2), so a screen
reader reads it with a Cantonese voice on an English page; English text keeps the page's."""

from __future__ import annotations

import re

import pytest

from smspanel.i18n import lang_attribute, text_language
from smspanel.models import db
from smspanel.services.templates import create_template
from tests.web.conftest import deliver, login

CHINESE = "明天上午十時至下午二時停水，請預先儲水。"
ENGLISH = "Water off 10:00-14:00 tomorrow."


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (CHINESE, "zh-Hant-HK"),
        ("請乘𨋢到三樓 😁", "zh-Hant-HK"),  # a character outside the BMP counts too
        ("通知 Notice：明天停水 Water off", "zh-Hant-HK"),  # 6 Han, 3 Latin words
        ("颱風", "zh-Hant-HK"),
        (ENGLISH, None),
        ("Mr 陳's notice about the lift", None),  # a Chinese name in an English sentence
        ("Meeting：3/F，Room A。", None),  # full-width punctuation alone is not Chinese
        ("", None),
        (None, None),
    ],
)
def test_the_script_check(text, language):
    assert text_language(text) == language


def test_the_filter_writes_the_attribute_or_nothing():
    assert str(lang_attribute(CHINESE)) == ' lang="zh-Hant-HK"'
    assert str(lang_attribute(ENGLISH)) == ""


def marked(html: str, text: str) -> str | None:
    """The lang attribute on the element that holds `text` (or its start), None if none."""
    match = re.search(r"<(\w+)((?:\s[^>]*)?)>\s*" + re.escape(text[:12]), html)
    assert match, f"{text[:12]!r} not on the page"
    found = re.search(r'\slang="([^"]+)"', match.group(2))
    return found.group(1) if found else None


def test_every_page_that_shows_message_text_marks_chinese(app, admin_client, make, admin):
    chinese = make.message(admin, ["11112222"], CHINESE)
    english = make.message(admin, ["33334444"], ENGLISH)
    deliver(app)
    with app.app_context():
        create_template(db.session, admin.id, "停水", CHINESE)
        create_template(db.session, admin.id, "Water", ENGLISH)
    for path in ("/", "/history", "/admin/messages", f"/history/{chinese}", "/templates"):
        html = admin_client.get(path).get_data(as_text=True)
        assert marked(html, CHINESE) == "zh-Hant-HK", path
        if path != f"/history/{chinese}":
            assert marked(html, ENGLISH) is None, path
    assert marked(admin_client.get(f"/history/{english}").get_data(as_text=True), ENGLISH) is None


def test_a_chinese_page_leaves_english_text_unmarked(app, admin_client, make, admin):
    make.message(admin, ["33334444"], ENGLISH)
    html = admin_client.get("/history", headers={"Accept-Language": "zh-HK"}).get_data(as_text=True)
    assert '<html lang="zh-Hant-HK">' in html
    assert marked(html, ENGLISH) is None


def test_the_approvals_page_marks_a_chinese_send(app, client, make):
    unit = make.department("Education", threshold=1)
    maker = make.user("maker", department=unit)
    make.user("checker", department=unit, role="approver")
    make.message(maker, ["91234567"], CHINESE)
    login(client, "checker")
    assert marked(client.get("/approvals").get_data(as_text=True), CHINESE) == "zh-Hant-HK"

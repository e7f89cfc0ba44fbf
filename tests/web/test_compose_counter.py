"""The compose counter on the server: the page carries the core's table, its figures, the
characters that force UCS-2 and the whole send's cost, and the flash and the message page
say the same segments the core counts."""

from __future__ import annotations

import html
import json
import re

from smspanel.config import DEFAULT_UNSUBSCRIBE_TEXT
from smspanel.models import Message, db
from smspanel.services.compose import counter_rules
from smspanel.services.content import count_segments
from tests.web.conftest import page_text

VALID = {
    "recipients": "1234 5678\n9123 4567",
    "content": "Water off",
    "enquiry_number": "2833 1234",
}
SUFFIX = " EN:28331234"


def counter_data(response) -> dict:
    """The table and words the page's script counts with: JSON in the counter box."""
    box = re.search(r"id=\"content-counter\"[^>]*data-counter='([^']*)'", response.text)
    assert box, "no counter data"
    return json.loads(html.unescape(box.group(1)))


def measured(response) -> dict[str, str]:
    box = re.search(r'<div class="counter-box[^"]*" id="content-counter"([^>]*)>', response.text)
    assert box
    return dict(re.findall(r'data-measured-(\w+)="([^"]*)"', box.group(1)))


def test_the_page_carries_the_cores_table_for_its_counter(user_client):
    data = counter_data(user_client.get("/compose"))
    assert data["rules"] == counter_rules()
    assert data["rules"]["replacements"]["\u2019"] == "'"
    assert data["words"]["segments"] == {"one": "%(num)s segment", "other": "%(num)s segments"}
    assert data["words"]["encodings"] == {"GSM-7": "GSM-7", "UCS-2": "UCS-2 (Unicode)"}


def test_the_figures_are_the_cores_count_of_the_whole_sms(user_client):
    content = "a" * 152 + "€" + "a" * (152 - len(SUFFIX))  # € on the edge of part one
    response = user_client.post("/compose", data={**VALID, "content": content, "recipients": ""})
    assert count_segments(content + SUFFIX) == 3
    assert measured(response) == {
        "encoding": "GSM-7",
        "characters": str(len(content + SUFFIX)),
        "units": "306",
        "segments": "3",
    }
    assert "305 / 1000 characters · 3 segments · GSM-7" in page_text(response)


def test_the_preview_shows_the_whole_sends_segments(user_client):
    recipients = "1234 5678\n12345678\n\n+852 2345 6789\nnot a number"
    response = user_client.post(
        "/compose", data={**VALID, "recipients": recipients, "content": "中" * 60}
    )
    text = page_text(response)
    assert "4 recipient lines" in text
    # Two different valid numbers, and 2345 6789 is a fixed line: it is skipped.
    assert "1 recipient × 2 segments = 2 SMS" in text


def test_a_refused_commercial_form_counts_the_numbers_sent_and_the_statement(
    make, user, user_client
):
    """2 numbers, one a fixed line; 140 GSM-7 characters that the Chinese statement makes
    3 UCS-2 segments: the cost, the counter and the quota need are of the send as stored."""
    make.assign(user, make.department("Schools", quota=1000))
    form = {"recipients": "9123 4567\n2833 1234", "content": "a" * 140, "commercial": "y"}
    response = user_client.post("/compose", data=form)  # no enquiry number: refused
    assert response.status_code == 422
    assert measured(response) == {
        "encoding": "UCS-2",
        "characters": "201",
        "units": "201",
        "segments": "3",
    }
    text = page_text(response)
    assert "1 recipient × 3 segments = 3 SMS" in text
    assert f"EN:XXXXXXXX {DEFAULT_UNSUBSCRIBE_TEXT}" in text  # the preview, as it is sent
    assert "This send takes 3." in text
    html_text = response.get_data(as_text=True)
    assert 'data-send-total data-deliverable="1"' in html_text  # the script starts from it
    assert f'data-statement="{DEFAULT_UNSUBSCRIBE_TEXT}"' in html_text  # and counts with it


def test_characters_forcing_ucs2_are_named_with_the_replace_button(user_client):
    content = "Don\u2019t forget\uff0c water off tomorrow"
    response = user_client.post(
        "/compose", data={**VALID, "content": content, "enquiry_number": ""}
    )
    text = page_text(response)
    assert "Not in GSM-7, so the message is sent as UCS-2" in text
    assert "\u2019 U+2019 at character 4 → '" in text
    assert "\uff0c U+FF0C at character 13 → ," in text
    body = response.get_data(as_text=True)
    button = re.search(r"<button[^>]*data-replace-gsm[^>]*>", body).group(0)
    assert "hidden" not in button


def test_no_replace_button_when_a_character_has_no_gsm_equivalent(user_client):
    response = user_client.post(
        "/compose", data={**VALID, "content": "Mr 陳\u2019s notice", "enquiry_number": ""}
    )
    assert "陳 U+9673 at character 4 no GSM equivalent" in page_text(response)
    body = response.get_data(as_text=True)
    assert "hidden" in re.search(r"<button[^>]*data-replace-gsm[^>]*>", body).group(0)


def test_a_chinese_notice_is_simply_ucs2_with_nothing_named(user_client):
    response = user_client.get("/compose")
    assert "data-forcing hidden" in response.get_data(as_text=True)
    response = user_client.post(
        "/compose", data={**VALID, "content": "明天停水，請預早儲水。", "enquiry_number": ""}
    )
    assert "data-forcing hidden" in response.get_data(as_text=True)
    assert "UCS-2 (Unicode)" in page_text(response)


def test_the_flash_and_the_message_page_say_the_segments_the_core_counts(app, user_client):
    content = "中" * 66 + "😀" + "中" * (66 - len(SUFFIX))  # the emoji on the edge of part one
    response = user_client.post("/compose", data={**VALID, "content": content})
    assert response.status_code == 302
    message_id = int(response.location.rsplit("/", 1)[1])
    with app.app_context():
        message = db.session.get(Message, message_id)
        assert message.segments == count_segments(content + SUFFIX) == 3
    text = page_text(user_client.get(response.location))
    assert f"Message #{message_id} queued for 2 recipients." in text
    assert "This send: 2 recipients × 3 segments = 6 SMS." in text
    assert "3 per recipient" in text


def test_the_template_form_counts_with_the_same_table(user_client):
    response = user_client.post(
        "/templates/new", data={"name": "", "content": "Hello ((name))\u2026 see you"}
    )
    assert counter_data(response)["rules"] == counter_rules()
    assert measured(response)["encoding"] == "UCS-2"
    assert "\u2026 U+2026 at character 15 → ..." in page_text(response)


def test_the_counter_speaks_chinese(user_client):
    user_client.set_cookie("lang", "zh-Hant")
    response = user_client.post(
        "/compose", data={**VALID, "content": "Don\u2019t" + "中" * 70, "enquiry_number": ""}
    )
    text = page_text(response)
    assert "/ 1000 字元 · 2 段 · UCS-2（統一碼）" in text
    assert "2 位收件人 × 2 段 = 4 個短訊" in text
    assert "發送短訊" in text
    words = counter_data(response)["words"]
    assert words["segments"] == {"one": "%(num)s 段", "other": "%(num)s 段"}
    assert html.unescape(words["characters"]) == "%(num)s / %(max)s 字元"


def test_a_refused_compose_names_its_problems_in_chinese(user_client):
    user_client.set_cookie("lang", "zh-Hant")
    response = user_client.post(
        "/compose", data={"recipients": "1234 5678\nabc", "content": " ", "enquiry_number": ""}
    )
    assert response.status_code == 422
    text = page_text(response)
    assert "訊息未發送" in text
    assert "收件人：2 行之中有 1 行不是有效的香港電話號碼" in text
    assert "第 2 行： abc 不是有效的香港電話號碼" in text
    assert "查詢電話：必須填寫查詢電話" in text
    assert "訊息：必須輸入內容，且內容不能只有空白" in text

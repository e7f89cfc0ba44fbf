"""The web says before a send how many numbers will be skipped and why, skips them, says so
again after it, and shows each skipped recipient's reason; commercial sends are ticked."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from smspanel.config import DEFAULT_UNSUBSCRIBE_TEXT
from smspanel.models import Message, Recipient, Upload, db
from tests.campaign_helpers import make_template
from tests.registers import dnc_register, opt_out
from tests.web.conftest import page_text

MOBILE, MOBILE_2, MOBILE_3 = "91234567", "61234567", "51234567"
FIXED, PAGER, UNKNOWN = "28331234", "71001234", "40001234"


def compose(client, recipients, content="Water off tomorrow", **extra):
    form = {"recipients": "\n".join(recipients), "content": content, "enquiry_number": "2833 1234"}
    return client.post("/compose", data={**form, **extra})


def only_message(app) -> Message:
    with app.app_context():
        message = db.session.scalars(select(Message)).one()
        db.session.expunge(message)
        return message


def test_compose_skips_and_says_how_many_and_why(user_client, app):
    opt_out(app, MOBILE_2)
    response = compose(user_client, [MOBILE, MOBILE_2, FIXED, UNKNOWN])
    assert response.status_code == 302
    page = user_client.get(response.location)
    text = page_text(page)
    assert f"Message #{only_message(app).id} queued for 2 recipients" in text
    assert "2 of 4 numbers were skipped: 1 opted out, 1 fixed line." in text
    assert "1 number is not in Hong Kong's numbering plan data; it is sent anyway." in text
    html = page.get_data(as_text=True)
    assert re.search(r"data-skipped-count>2<", html)
    assert "2 recipients were skipped and not sent: opted out: 1, fixed line: 1" in text
    assert "9123 4567 ○ Pending" in text
    assert "6123 4567 ⤼ Skipped — opted out" in text
    assert "2833 1234 ⤼ Skipped — fixed line" in text
    skipped_only = page_text(user_client.get(f"{response.location}?recipient_status=skipped"))
    assert "6123 4567" in skipped_only and "9123 4567" not in skipped_only


def test_compose_with_nobody_left_is_refused_and_keeps_the_form(user_client, app):
    opt_out(app, MOBILE)
    response = compose(user_client, [MOBILE, FIXED, PAGER])
    assert response.status_code == 422
    text = page_text(response)
    assert (
        "Recipients: no recipient is left to send to: all 3 numbers are skipped "
        "(1 opted out, 1 fixed line, 1 pager)" in text
    )
    assert f"{FIXED}\n{PAGER}" in response.get_data(as_text=True)  # the typed values kept
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_a_commercial_compose_skips_the_register_and_carries_the_statement(user_client, app):
    dnc_register(app, [MOBILE_2])
    form = user_client.get("/compose").get_data(as_text=True)
    assert 'name="commercial" type="checkbox"' in form and DEFAULT_UNSUBSCRIBE_TEXT in form
    response = compose(user_client, [MOBILE, MOBILE_2], commercial="y")
    assert response.status_code == 302
    message = only_message(app)
    assert message.commercial is True
    assert message.content == f"Water off tomorrow EN:28331234\n{DEFAULT_UNSUBSCRIBE_TEXT}"
    text = page_text(user_client.get(response.location))
    assert "Kind commercial skips the do-not-call register" in text
    assert "1 of 2 numbers were skipped: 1 on the do-not-call register." in text
    assert "6123 4567 ⤼ Skipped — do-not-call register" in text


def test_a_plain_compose_ignores_the_register(user_client, app):
    dnc_register(app, [MOBILE_2])
    compose(user_client, [MOBILE, MOBILE_2])
    message = only_message(app)
    assert (message.commercial, message.skipped_count) == (False, 0)
    assert DEFAULT_UNSUBSCRIBE_TEXT not in message.content


def test_the_compose_page_asks_the_check_before_the_button(user_client):
    html = user_client.get("/compose").get_data(as_text=True)
    output = re.search(r'<p id="recipients-check"[^>]*>', html).group(0)
    assert 'aria-live="polite"' in output and 'data-url="/compose/recipients-check"' in output
    assert html.index('id="recipients-check"') < html.index(">Send SMS<")
    assert 'src="/static/js/recipients_check.js"' in html


def test_the_recipients_check_counts_by_reason(user_client, app):
    opt_out(app, MOBILE_2)
    dnc_register(app, [MOBILE_3])
    lines = [MOBILE, MOBILE_2, MOBILE_3, FIXED, "2833 1235", PAGER, UNKNOWN, "12-34", MOBILE]
    plain = user_client.post("/compose/recipients-check", data={"recipients": "\n".join(lines)})
    assert plain.status_code == 200
    assert plain.get_json() == {
        "total": 7,
        "deliverable": 3,
        "skipped": 4,
        "by_reason": {"opted_out": 1, "fixed_line": 2, "pager": 1},
        "unknown": 1,
        "invalid": 1,
        "summary": "4 of 7 numbers will be skipped: 1 opted out, 2 fixed lines, 1 pager.",
        "unknown_summary": (
            "1 number is not in Hong Kong's numbering plan data; it is sent anyway."
        ),
    }
    sale = user_client.post(
        "/compose/recipients-check",
        data={
            "recipients": "\n".join(lines),
            "commercial": "y",
            "content": "Sale",
            "enquiry_number": "28331234",
        },
    ).get_json()
    assert sale["by_reason"] == {"opted_out": 1, "dnc_register": 1, "fixed_line": 2, "pager": 1}
    assert sale["commercial_summary"] == (
        "With the unsubscribe statement: 65 characters, 1 SMS segment(s) per recipient."
    )
    assert user_client.post("/compose/recipients-check", data={}).get_json()["summary"] == ""


def test_the_recipients_check_needs_a_login_and_the_forms_token(client, app, make):
    assert client.post("/compose/recipients-check", data={"recipients": MOBILE}).status_code in (
        302,
        401,
    )
    make.user("carol")
    client.post("/login", data={"username": "carol", "password": "correct horse battery"})
    app.config["WTF_CSRF_ENABLED"] = True
    refused = client.post("/compose/recipients-check", data={"recipients": MOBILE})
    assert refused.status_code == 400
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/compose").get_data(as_text=True)
    ).group(1)
    answer = client.post(
        "/compose/recipients-check", data={"recipients": MOBILE, "csrf_token": token}
    )
    assert answer.status_code == 200 and answer.get_json()["deliverable"] == 1


# --- the file check page --------------------------------------------------------------------


@pytest.fixture
def template_id(app) -> int:
    with app.app_context():
        return make_template(db.session, "Dear ((name)), 20% off this week.", "Offer")


def check_page(client, template_id, phones) -> str:
    data = "phone,name\r\n" + "".join(f"{p},Ann\r\n" for p in phones)
    response = client.post(
        "/send/upload",
        data={"template_id": str(template_id), "file": (io.BytesIO(data.encode()), "list.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, page_text(response)
    return response.location


def test_the_check_page_counts_what_will_be_skipped_and_why(user_client, app, template_id):
    opt_out(app, MOBILE_2)
    dnc_register(app, [MOBILE_3])
    path = check_page(user_client, template_id, [MOBILE, MOBILE_2, MOBILE_3, FIXED, UNKNOWN])
    response = user_client.get(path)
    text = page_text(response)
    assert "2 of 5 numbers will be skipped: 1 opted out, 1 fixed line." in text
    assert "Reason Numbers For example opted out 1 6123 4567 fixed line 1 2833 1234" in text
    assert (
        "Sent as a commercial message, 1 more number is skipped: it is on the do-not-call "
        "register." in text
    )
    assert "1 number is not in Hong Kong's numbering plan data" in text
    assert "Send to 3 recipients" in text
    html = response.get_data(as_text=True)
    assert (
        "data-skipped-count><span data-if-plain>2</span><span data-if-commercial>3</span><" in html
    )
    assert 'name="commercial" type="checkbox"' in html


def test_the_check_pages_totals_are_of_the_recipients_that_get_an_sms(
    user_client, app, template_id
):
    """As the commercial box asks: the register skipped, and the statement making each
    1-segment text a 2-segment one; skipped rows stay in the preview, marked with why."""
    opt_out(app, MOBILE_2)
    dnc_register(app, [MOBILE_3])
    path = check_page(user_client, template_id, [MOBILE, MOBILE_2, MOBILE_3, FIXED, UNKNOWN])
    response = user_client.get(path)
    plain = page_text(response)
    assert "To send 3" in plain and "SMS segments in total 3" in plain
    assert "3 messages, 3 SMS segments in total." in plain
    assert "Row 3 · 6123 4567 · not sent: opted out" in plain
    assert "Row 4 · to 5123 4567 · 1 segment" in plain
    assert "Send to 3 recipients" in plain
    commercial = page_text(response, commercial=True)
    assert "To send 2" in commercial and "SMS segments in total 4" in commercial
    counted = "2 messages, 4 SMS segments in total. The unsubscribe statement is counted."
    assert counted in commercial
    assert "Row 2 · to 9123 4567 · 2 segments" in commercial
    assert "Row 4 · 5123 4567 · not sent: do-not-call register" in commercial
    assert f"EN:XXXXXXXX {DEFAULT_UNSUBSCRIBE_TEXT}" in commercial
    assert "Send to 2 recipients" in commercial


def test_a_commercial_send_from_the_file_skips_the_register_and_adds_the_statement(
    user_client, app, template_id
):
    dnc_register(app, [MOBILE_3])
    path = check_page(user_client, template_id, [MOBILE, MOBILE_3, FIXED])
    response = user_client.post(path, data={"enquiry_number": "28331234", "commercial": "y"})
    assert response.status_code == 302
    text = page_text(user_client.get(response.location))
    assert "2 of 3 numbers were skipped: 1 on the do-not-call register, 1 fixed line." in text
    with app.app_context():
        message = db.session.scalars(select(Message)).one()
        assert message.commercial is True
        texts = db.session.scalars(
            select(Recipient.content).where(Recipient.status == "pending")
        ).all()
        assert texts == [f"Dear Ann, 20% off this week. EN:28331234\n{DEFAULT_UNSUBSCRIBE_TEXT}"]


def test_a_file_with_nobody_left_sends_nothing_and_keeps_the_upload(user_client, app, template_id):
    path = check_page(user_client, template_id, [FIXED, PAGER])
    assert "Send to 0 recipients" in page_text(user_client.get(path))
    response = user_client.post(path, data={"enquiry_number": "28331234"})
    assert response.status_code == 422
    assert "File: no recipient is left to send to: all 2 numbers are skipped" in page_text(response)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0
        assert db.session.scalar(select(func.count()).select_from(Upload)) == 1


def test_the_reasons_read_in_hong_kong_chinese(user_client, app):
    opt_out(app, MOBILE_2)
    response = compose(user_client, [MOBILE, MOBILE_2, FIXED, PAGER, "81001234"])
    page = user_client.get(response.location, headers={"Accept-Language": "zh-HK"})
    text = page_text(page)
    for label in ("拒收", "固網電話", "傳呼機", "非手提電話號碼"):
        assert f"— {label}" in text
    assert "已略過" in text


def test_the_settings_decide_skipping_and_the_statement(user_client, app):
    app.config["SMS_SKIP_NON_MOBILE"] = False
    app.config["UEMO_UNSUBSCRIBE_TEXT"] = "Reply STOP to 1234 5678 to unsubscribe."
    response = compose(user_client, [MOBILE, FIXED, PAGER], content="Sale", commercial="y")
    assert response.status_code == 302
    message = only_message(app)
    assert (message.recipient_count, message.skipped_count) == (3, 0)
    assert message.content.endswith("\nReply STOP to 1234 5678 to unsubscribe.")

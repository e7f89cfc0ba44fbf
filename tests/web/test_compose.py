"""Composing: every problem named, typed values kept, the enquiry number appended."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from smspanel.models import Message, Recipient, db
from smspanel.services.compose import (
    ComposeRefused,
    InvalidEnquiryNumber,
    compose_content,
    enquiry_number,
    prepare_send,
)
from smspanel.services.content import MAX_CONTENT_LENGTH, InvalidContent
from tests.web.conftest import page_text

VALID = {"recipients": "1234 5678\n63456789", "content": "Water off", "enquiry_number": "2833 1234"}


def message_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Message))


class TestEnquiryRule:
    """services.compose: the enquiry number is required and appended as ' EN:<8 digits>'."""

    @pytest.mark.parametrize(
        ("typed", "digits"),
        [("1234 5678", "12345678"), ("12345678", "12345678"), ("  2833 1234 ", "28331234")],
    )
    def test_valid_enquiry_numbers_are_normalised_to_eight_digits(self, typed, digits):
        assert enquiry_number(typed) == digits
        assert compose_content("Notice", typed) == f"Notice EN:{digits}"

    @pytest.mark.parametrize(
        ("typed", "problem"),
        [
            ("", "required"),
            ("   ", "required"),
            ("1234-5678", "not a Hong Kong number"),
            ("123456789", "not a Hong Kong number"),
            ("12 3456", "not a Hong Kong number"),
        ],
    )
    def test_invalid_enquiry_numbers_are_refused_with_the_reason(self, typed, problem):
        with pytest.raises(InvalidEnquiryNumber, match=problem):
            compose_content("Notice", typed)

    def test_the_suffix_counts_towards_the_maximum_length(self):
        room = MAX_CONTENT_LENGTH - len(" EN:12345678")
        assert len(compose_content("x" * room, "12345678")) == MAX_CONTENT_LENGTH
        with pytest.raises(InvalidContent, match=f"at most {room} characters"):
            compose_content("x" * (room + 1), "12345678")

    def test_browser_line_breaks_become_single_newlines(self):
        assert compose_content("a\r\nb", "12345678") == "a\nb EN:12345678"

    def test_all_problems_are_reported_together(self):
        with pytest.raises(ComposeRefused) as refused:
            prepare_send("1234 5678\n\nbad\n", " ", "")
        assert set(refused.value.errors) == {"recipients", "content", "enquiry_number"}
        assert [(b.line_number, b.value) for b in refused.value.invalid_lines] == [(3, "bad")]


def test_compose_page_has_labelled_fields_counter_and_csrf(user_client):
    html = user_client.get("/compose").get_data(as_text=True)
    for name in ("recipients", "content", "enquiry_number"):
        assert f'<label for="{name}">' in html and f'name="{name}"' in html
    assert 'name="csrf_token"' in html
    assert "data-char-count" in html and "data-segment-count" in html
    assert "/static/js/compose.js" in html


def test_a_valid_send_is_queued_with_the_suffix_and_lands_on_its_detail_page(app, user_client):
    response = user_client.post("/compose", data=VALID)
    assert response.status_code == 302
    assert response.location.startswith("/history/")
    message_id = int(response.location.rsplit("/", 1)[1])
    with app.app_context():
        message = db.session.get(Message, message_id)
        assert message.content == "Water off EN:28331234"
        assert message.status == "pending" and message.recipient_count == 2
        phones = db.session.scalars(
            select(Recipient.phone).where(Recipient.message_id == message_id).order_by(Recipient.id)
        ).all()
        assert phones == ["12345678", "63456789"]
    detail = user_client.get(response.location)
    text = page_text(detail)
    assert "queued for 2 recipients" in text and "Water off EN:28331234" in text


def test_a_refused_send_names_every_invalid_line_and_keeps_what_was_typed(app, user_client):
    typed = "1234 5678\n\n12-345678\nabc\n9876 5432\n123"
    response = user_client.post(
        "/compose", data={**VALID, "recipients": typed, "content": "Keep <me>"}
    )
    assert response.status_code == 422
    text = page_text(response)
    assert "Line 3: 12-345678 is not a valid Hong Kong number" in text
    assert "Line 4: abc is not a valid Hong Kong number" in text
    assert "Line 6: 123 is not a valid Hong Kong number" in text
    assert "3 of 5 lines are not valid" in text
    html = response.get_data(as_text=True)
    assert "1234 5678\n\n12-345678\nabc\n9876 5432\n123</textarea>" in html
    assert "Keep &lt;me&gt;</textarea>" in html
    assert 'value="2833 1234"' in html
    assert message_count(app) == 0


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("enquiry_number", "", "enquiry number is required"),
        ("enquiry_number", "1234-5678", "is not a Hong Kong number"),
        ("enquiry_number", "123", "is not a Hong Kong number"),
        ("content", "", "content is required"),
        ("content", "   ", "content is required"),
        ("content", "x" * 990, "the maximum is 1000"),
        ("recipients", "", "enter at least one recipient"),
        ("recipients", "\n \n", "enter at least one recipient"),
    ],
)
def test_each_invalid_field_is_refused_and_named(app, user_client, field, value, problem):
    response = user_client.post("/compose", data={**VALID, field: value})
    assert response.status_code == 422
    assert problem in page_text(response)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert message_count(app) == 0


def test_the_counter_starts_from_what_the_core_counts(user_client):
    response = user_client.post("/compose", data={**VALID, "content": "你好", "recipients": "x"})
    text = page_text(response)
    assert "14 / 1000 characters" in text  # "你好" + " EN:28331234"
    assert "1 segment · UCS-2 (Unicode)" in text


def test_duplicate_numbers_are_sent_once(app, user_client):
    response = user_client.post(
        "/compose", data={**VALID, "recipients": "1234 5678\n12345678\n+852 1234 5678"}
    )
    message_id = int(response.location.rsplit("/", 1)[1])
    with app.app_context():
        assert db.session.get(Message, message_id).recipient_count == 1


def test_content_is_escaped_never_run(app, user_client):
    response = user_client.post("/compose", data={**VALID, "content": "<script>alert(1)</script>"})
    html = user_client.get(response.location).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    history = user_client.get("/history").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in history

"""Hong Kong numbers: 8 ASCII digits, one optional space after the fourth, optional 852."""

import pytest

from smspanel.services.phone import (
    InvalidRecipients,
    NoRecipients,
    gateway_number,
    normalize_phone,
    parse_recipient_lines,
    parse_recipients,
)


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("1234 5678", "12345678"),
        ("12345678", "12345678"),
        ("  9876 5432 ", "98765432"),
        ("85212345678", "12345678"),
        ("+85212345678", "12345678"),
        ("+852 1234 5678", "12345678"),
        ("852 12345678", "12345678"),
    ],
)
def test_valid_numbers_become_their_eight_digits(raw, digits):
    assert normalize_phone(raw) == digits


@pytest.mark.parametrize(
    "raw",
    [
        "1234-5678",
        "123456789",
        "12 3456",
        "1234  5678",
        "1234567",
        "",
        "abcd efgh",
        "١٢٣٤٥٦٧٨",  # Arabic-Indic digits
        "１２３４５６７８",  # full-width digits
        "+853 1234 5678",
        "12345678x",
        "1234\t5678",
    ],
)
def test_anything_else_is_refused(raw):
    assert normalize_phone(raw) is None


def test_repeats_are_sent_once_in_first_seen_order():
    assert parse_recipients(["1234 5678", "87654321", "12345678", "+85287654321"]) == [
        "12345678",
        "87654321",
    ]


def test_every_invalid_entry_is_listed_with_its_position():
    with pytest.raises(InvalidRecipients) as caught:
        parse_recipients(["12345678", "1234-5678", "87654321", "12 3456"])
    assert [(e.position, e.value) for e in caught.value.invalid] == [
        (2, "1234-5678"),
        (4, "12 3456"),
    ]
    assert "1234-5678" in str(caught.value) and "12 3456" in str(caught.value)


def test_an_empty_list_is_refused():
    with pytest.raises(NoRecipients):
        parse_recipients([])


def test_textarea_lines_skip_blank_lines():
    assert parse_recipient_lines("1234 5678\n\n  \r\n8765 4321\r\n") == ["12345678", "87654321"]


def test_gateway_form_has_country_code():
    assert gateway_number("12345678") == "85212345678"


def test_textarea_errors_name_the_line_a_person_sees():
    with pytest.raises(InvalidRecipients) as caught:
        parse_recipient_lines("12345678\n\nbad\n87654321\n12-34")
    assert [(e.position, e.value) for e in caught.value.invalid] == [(3, "bad"), (5, "12-34")]

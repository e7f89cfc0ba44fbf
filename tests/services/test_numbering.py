"""Hong Kong numbers are classed by the numbering plan's data, and the fast path by prefix
gives exactly the answer `phonenumbers` gives for each number."""

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smspanel.services import numbering
from smspanel.services.numbering import CLASS_OF_TYPE, NumberClass, classify, classify_all


def phonenumbers_says(phone: str) -> NumberClass:
    """The reference: the library itself, through its own parser."""
    return CLASS_OF_TYPE[phonenumbers.number_type(phonenumbers.parse(f"+852{phone}"))]


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        # Mobiles: 5, 6 and 9 ranges.
        ("51234567", NumberClass.MOBILE),
        ("61234567", NumberClass.MOBILE),
        ("91234567", NumberClass.MOBILE),
        ("98765432", NumberClass.MOBILE),
        # New ranges the data already has: 4x mobiles, 70[1-59]x, 9291.
        ("46401234", NumberClass.MOBILE),
        ("44001234", NumberClass.MOBILE),
        ("70112345", NumberClass.MOBILE),
        ("70512345", NumberClass.MOBILE),
        ("92911234", NumberClass.MOBILE),
        # Office lines: 2xxx and 3xxx, and 580x.
        ("28331234", NumberClass.FIXED_LINE),
        ("21234567", NumberClass.FIXED_LINE),
        ("31234567", NumberClass.FIXED_LINE),
        ("39001234", NumberClass.FIXED_LINE),
        ("58011234", NumberClass.FIXED_LINE),
        # Pagers: 7x.
        ("71001234", NumberClass.PAGER),
        ("72001234", NumberClass.PAGER),
        ("77778888", NumberClass.PAGER),
        # Other kinds that cannot take an SMS: personal numbers (8x), premium rate, UAN.
        ("81001234", NumberClass.NOT_MOBILE),
        ("82001234", NumberClass.NOT_MOBILE),
        ("90031234", NumberClass.NOT_MOBILE),
        ("30011234", NumberClass.NOT_MOBILE),
        # Not in the data (new ranges it lags, or nothing at all): sent with a warning.
        ("40001234", NumberClass.UNKNOWN),
        ("12345678", NumberClass.UNKNOWN),
        ("33334444", NumberClass.UNKNOWN),
        ("99991234", NumberClass.UNKNOWN),
        ("00001234", NumberClass.UNKNOWN),
    ],
)
def test_real_hong_kong_ranges_are_classed_as_the_plan_says(phone, expected):
    assert classify(phone) == expected
    assert phonenumbers_says(phone) == expected


@settings(max_examples=2000, deadline=None)
@given(st.integers(min_value=0, max_value=99_999_999))
def test_the_fast_path_equals_phonenumbers_for_any_8_digit_number(value):
    phone = f"{value:08d}"
    assert classify(phone) == phonenumbers_says(phone)


def test_every_prefix_of_the_current_data_is_decided_by_its_first_four_digits():
    """Why the fast path is fast: no prefix falls back to one number at a time today."""
    numbering._by_prefix.clear()
    classify_all(f"{prefix:04d}5555" for prefix in range(10_000))
    assert len(numbering._by_prefix) == 10_000
    assert [p for p, known in numbering._by_prefix.items() if known is None] == []


def test_a_prefix_whose_numbers_differ_is_classified_number_by_number(monkeypatch):
    """A future plan may split a block of 10,000: then its numbers are asked one by one."""
    real = phonenumbers.number_type

    def split_block(number):  # 4640xxxx: odd numbers become fixed lines
        digits = str(number.national_number)
        if digits.startswith("4640") and int(digits[-1]) % 2:
            return phonenumbers.PhoneNumberType.FIXED_LINE
        return real(number)

    monkeypatch.setattr(numbering.phonenumbers, "number_type", split_block)
    monkeypatch.setattr(numbering, "_by_prefix", {})
    assert classify("46401230") == NumberClass.MOBILE
    assert classify("46401231") == NumberClass.FIXED_LINE
    assert numbering._by_prefix["4640"] is None
    assert classify("46411231") == NumberClass.MOBILE  # the next block agrees: one answer


def test_a_hundred_thousand_numbers_classed_from_the_memo_match_one_by_one():
    """Classes are memoised per 4-digit prefix (its speed is in bench/registers.py): every
    number must still get the class of its own prefix."""
    phones = [f"{n * 7919 % 100_000_000:08d}" for n in range(100_000)]  # every prefix
    classes = classify_all(phones)
    for phone in phones[::997]:
        assert classes[phone] == phonenumbers_says(phone), phone

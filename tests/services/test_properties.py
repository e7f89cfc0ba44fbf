"""Properties of the phone rule and the segment counter, over generated input."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from smspanel.api.schemas import PHONE_PATTERN
from smspanel.services.content import GSM7_BASIC, GSM7_EXTENDED, count_segments, is_gsm7
from smspanel.services.phone import InvalidRecipients, normalize_phone, parse_recipients

PROPERTY = settings(max_examples=200, deadline=None)

eight_digits = st.text(alphabet="0123456789", min_size=8, max_size=8)
prefixes = st.sampled_from(["", "852", "852 ", "+852", "+852 "])
separators = st.sampled_from(["", " "])
blanks = st.sampled_from(["", " ", "\t", "  "])


@st.composite
def written_numbers(draw) -> tuple[str, str]:
    """A valid number as a person might write it, and its 8 digits."""
    digits = draw(eight_digits)
    written = draw(prefixes) + digits[:4] + draw(separators) + digits[4:]
    return draw(blanks) + written + draw(blanks), digits


# Arabic-Indic, full-width, superscript...: digits to Python's isdigit(), never to the rule.
non_ascii_digits = st.sampled_from(
    [chr(code) for code in range(0x80, 0x110000) if chr(code).isdigit()]
)


@st.composite
def with_a_non_ascii_digit(draw) -> str:
    """A valid-looking number with one digit swapped, or any text around such a digit."""
    digit = draw(non_ascii_digits)
    if draw(st.booleans()):
        written, _ = draw(written_numbers())
        at = draw(st.sampled_from([i for i, ch in enumerate(written) if ch.isdigit()]))
        return written[:at] + digit + written[at + 1 :]
    return draw(st.text(max_size=12)) + digit + draw(st.text(max_size=12))


@PROPERTY
@given(written_numbers())
def test_every_way_of_writing_a_number_normalises_to_its_eight_digits(number):
    written, digits = number
    assert normalize_phone(written) == digits


@PROPERTY
@given(with_a_non_ascii_digit())
def test_anything_with_a_non_ascii_digit_is_never_a_number(text):
    assert normalize_phone(text) is None


@PROPERTY
@given(written_numbers())
def test_normalising_a_normalised_number_changes_nothing(number):
    digits = normalize_phone(number[0])
    assert normalize_phone(digits) == digits


@PROPERTY
@given(
    st.one_of(
        written_numbers().map(lambda number: number[0]),
        with_a_non_ascii_digit(),
        st.text(alphabet="0123456789 +852-()", max_size=16),
    )
)
def test_the_documented_pattern_accepts_what_the_rule_accepts(text):
    """/api/openapi.json shows clients the rule; blanks around a number are the rule's grace."""
    documented = re.fullmatch(PHONE_PATTERN, text.strip()) is not None
    assert documented == (normalize_phone(text) is not None)


# A small pool, so generated lists repeat numbers in different spellings.
pooled_numbers = st.lists(written_numbers(), min_size=1, max_size=5).flatmap(
    lambda pool: st.lists(st.sampled_from(pool), min_size=1, max_size=30)
)


@PROPERTY
@given(pooled_numbers)
def test_recipients_are_deduplicated_in_the_order_first_seen(numbers):
    entries = [written for written, _ in numbers]
    first_seen = list(dict.fromkeys(digits for _, digits in numbers))
    assert parse_recipients(entries) == first_seen


@PROPERTY
@given(pooled_numbers, st.data())
def test_one_bad_entry_refuses_the_whole_list_and_names_its_position(numbers, data):
    entries = [written for written, _ in numbers]
    at = data.draw(st.integers(0, len(entries)))
    entries.insert(at, data.draw(with_a_non_ascii_digit()))
    with pytest.raises(InvalidRecipients) as refused:
        parse_recipients(entries)
    assert [e.position for e in refused.value.invalid] == [at + 1]


GSM7 = sorted(GSM7_BASIC | GSM7_EXTENDED)
# Any character a form or JSON body can carry (a lone surrogate is refused before counting),
# GSM-7 ones drawn often, so long texts still mix both kinds.
any_character = st.one_of(st.sampled_from(GSM7), st.characters(codec="utf-8"))
not_gsm7 = st.characters(codec="utf-8", exclude_characters="".join(GSM7))
gsm7_texts = st.text(alphabet=GSM7, max_size=400)
any_texts = st.text(alphabet=any_character, max_size=400)
sms_texts = st.one_of(gsm7_texts, any_texts)


def septets(text: str) -> int:
    return sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)


def ucs2_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@PROPERTY
@given(sms_texts.filter(bool))
def test_any_text_costs_at_least_one_segment(text):
    assert count_segments(text) >= 1


@PROPERTY
@given(sms_texts, any_character)
def test_typing_one_more_character_never_lowers_the_cost(text, character):
    assert count_segments(text + character) >= count_segments(text)


@PROPERTY
@given(st.text(alphabet=GSM7, min_size=1, max_size=160))
def test_gsm7_text_of_up_to_160_septets_is_one_segment(text):
    assume(septets(text) <= 160)
    assert is_gsm7(text)
    assert count_segments(text) == 1


@PROPERTY
@given(st.text(alphabet=sorted(GSM7_BASIC), min_size=161, max_size=400))
def test_longer_gsm7_text_is_billed_in_parts_of_153_septets(text):
    assert count_segments(text) == math.ceil(septets(text) / 153)


@PROPERTY
@given(st.text(alphabet=GSM7, min_size=161, max_size=400))
def test_an_escape_pair_never_split_costs_at_most_one_septet_a_part(text):
    segments = count_segments(text)
    assert math.ceil(septets(text) / 153) <= segments <= math.ceil(septets(text) / 152)


@st.composite
def long_ucs2_texts(draw) -> str:
    """Over 70 UTF-16 units, with at least one character GSM-7 lacks, anywhere."""
    text = draw(st.text(alphabet=any_character, min_size=70, max_size=400))
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(not_gsm7) + text[at:]


@PROPERTY
@given(long_ucs2_texts())
def test_longer_ucs2_text_is_billed_in_parts_of_67_units(text):
    """67 units a part, or 66 where a surrogate pair would straddle the edge."""
    assert not is_gsm7(text)
    assert ucs2_units(text) > 70
    assert math.ceil(ucs2_units(text) / 67) <= count_segments(text)
    assert count_segments(text) <= math.ceil(ucs2_units(text) / 66)
    if ucs2_units(text) == len(text):  # no pairs at all
        assert count_segments(text) == math.ceil(ucs2_units(text) / 67)

"""The content rules, scanned with regular expressions for speed, say exactly what the
rules say character by character (every rendered row of a 100,000-row send is checked)."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from smspanel.services.content import (
    GSM7_BASIC,
    GSM7_EXTENDED,
    InvalidContent,
    count_segments,
    is_gsm7,
    validate_content,
)


def unsupported_by_the_rule(content: str) -> tuple[int, str] | None:
    """The first control character (other than tab and line breaks) or lone surrogate."""
    for position, ch in enumerate(content, start=1):
        if (unicodedata.category(ch) == "Cc" and ch not in "\t\n\r") or "\ud800" <= ch <= "\udfff":
            return position, f"U+{ord(ch):04X}"
    return None


def segments_by_the_rule(content: str) -> int:
    """Character by character: each character's width, packed into parts, a pair never split."""
    if not content:
        return 0
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in content):
        widths, single, part = [2 if ch in GSM7_EXTENDED else 1 for ch in content], 160, 153
    else:
        widths, single, part = [2 if ord(ch) > 0xFFFF else 1 for ch in content], 70, 67
    if sum(widths) <= single:
        return 1
    parts, room = 1, part
    for width in widths:
        if width > room:
            parts, room = parts + 1, part
        room -= width
    return parts


gsm_heavy = st.text(alphabet=st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENDED)), max_size=400)
anything = st.text(alphabet=st.characters(), max_size=300)
awkward = st.text(
    alphabet=st.one_of(
        st.sampled_from(sorted(GSM7_EXTENDED)),
        st.characters(min_codepoint=0, max_codepoint=0xA0),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
        st.sampled_from("中😀é"),
    ),
    max_size=50,
)
texts = st.one_of(gsm_heavy, anything, awkward)


def test_the_control_characters_are_exactly_unicodes_cc_category():
    for code in range(0x10000):
        ch = chr(code)
        rule = unsupported_by_the_rule("x" + ch)
        try:
            validate_content("x" + ch)
            refused = None
        except InvalidContent as exc:
            refused = str(exc)
        assert (refused is None) == (rule is None), hex(code)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_validation_refuses_the_same_character_at_the_same_position(text):
    content = "a" + text
    rule = unsupported_by_the_rule(content)
    if rule is None:
        assert validate_content(content) == content
        return
    position, name = rule
    try:
        validate_content(content)
    except InvalidContent as exc:
        message = str(exc)
    else:
        raise AssertionError("accepted")
    if len(content) <= 1000:
        assert f"{name} at position {position}" in message


@settings(max_examples=300, deadline=None)
@given(texts)
def test_segments_and_encoding_follow_the_character_rule(text):
    assert is_gsm7(text) == all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return  # never counted: validation refuses it first
    assert count_segments(text) == segments_by_the_rule(text)

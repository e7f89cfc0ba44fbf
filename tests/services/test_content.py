"""Content rules and SMS segment counting (GSM-7 160/153, UCS-2 70/67)."""

import re

import pytest

from smspanel.services.content import (
    MAX_CONTENT_LENGTH,
    InvalidContent,
    count_segments,
    validate_content,
)


@pytest.mark.parametrize(
    ("content", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension characters take two septets
        ("€" * 81, 2),
        ("中" * 70, 1),
        ("中" * 71, 2),
        ("中" * 134, 2),
        ("中" * 135, 3),
        ("😀" * 35, 1),  # each emoji is two UCS-2 units
        ("😀" * 36, 2),
        ("Hello 你好", 1),
    ],
)
def test_segments(content, segments):
    assert count_segments(content) == segments


@pytest.mark.parametrize("content", ["", "   ", "\n\t "])
def test_blank_content_is_refused(content):
    with pytest.raises(InvalidContent, match="required"):
        validate_content(content)


def test_content_over_the_maximum_is_refused_naming_the_limit():
    with pytest.raises(InvalidContent, match=str(MAX_CONTENT_LENGTH)):
        validate_content("x" * (MAX_CONTENT_LENGTH + 1))


def test_content_is_kept_exactly():
    text = "  通知：明天停水 \n"
    assert validate_content(text) == text


@pytest.mark.parametrize(
    ("content", "named"),
    [("a\x00b", "U+0000 at position 2"), ("bell\x07", "U+0007"), ("x\ud800", "U+D800")],
)
def test_control_characters_are_refused_by_name(content, named):
    with pytest.raises(InvalidContent, match=re.escape(named)):
        validate_content(content)


def test_line_breaks_and_tabs_are_fine():
    assert validate_content("line one\r\nline two\tend") == "line one\r\nline two\tend"

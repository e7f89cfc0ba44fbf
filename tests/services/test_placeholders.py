"""`((placeholders))`: found in order, matched to columns loosely, filled in exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smspanel.services.placeholders import (
    name_key,
    personalisation_by_key,
    placeholders,
    render,
)

PROPERTY = settings(max_examples=200, deadline=None)


def test_placeholders_are_listed_once_each_in_order_of_first_appearance():
    content = "((date)) for ((Name)): ((clinic)), ((name)) again, ((DATE)) again"
    assert placeholders(content) == ["date", "Name", "clinic"]


def test_a_placeholder_keeps_its_name_as_written_without_surrounding_blanks():
    assert placeholders("Hi (( First name ))") == ["First name"]


@pytest.mark.parametrize("written", ["first_name", "First Name", "firstname", "FIRST-NAME"])
def test_names_match_ignoring_case_spaces_underscores_and_hyphens(written):
    assert name_key(written) == name_key("First name")
    assert render("Dear ((First name))", {name_key(written): "Ada"}).text == "Dear Ada"


def test_names_that_differ_in_letters_do_not_match():
    assert name_key("first name") != name_key("firstnames")
    rendering = render("((first name))", personalisation_by_key({"first_names": "Ada"}))
    assert rendering.missing == ["first name"]


@pytest.mark.parametrize("content", ["(( ))", "(())", "((_-_))", "a (( \t )) b"])
def test_empty_brackets_are_not_a_placeholder_and_are_left_as_written(content):
    assert placeholders(content) == []
    assert render(content, {}) == render(content, {"": "x"})
    assert render(content, {}).text == content and render(content, {}).missing == []


def test_single_brackets_and_nested_brackets_are_plain_text():
    content = "(a) ((b(c))) (d))"
    assert placeholders(content) == []
    assert render(content, {}).text == content


def test_every_occurrence_is_filled_and_values_are_inserted_literally():
    values = personalisation_by_key({"name": "((clinic)) {0} %s \\1", "clinic": "Kowloon"})
    rendering = render("((name)) at ((clinic)); ((NAME))", values)
    assert rendering.text == "((clinic)) {0} %s \\1 at Kowloon; ((clinic)) {0} %s \\1"
    assert rendering.missing == []


def test_template_braces_survive_rendering():
    assert render("{x} ((a)) }{", {"a": "1"}).text == "{x} 1 }{"


def test_a_missing_or_blank_value_is_named_once_and_left_as_written():
    values = personalisation_by_key({"name": "   ", "unused": "x"})
    rendering = render("((Name)) ((date)) ((name)) ((date))", values)
    assert rendering.missing == ["Name", "date"]
    assert rendering.text == "((Name)) ((date)) ((name)) ((date))"


def test_values_are_trimmed_and_none_is_blank():
    values = personalisation_by_key({"name": "  Ada \n", "date": None, "n": 3, "f": 1.5})
    assert values == {"name": "Ada", "date": "", "n": "3", "f": "1.5"}


def test_of_two_keys_that_match_the_first_wins():
    assert personalisation_by_key({"First Name": "Ada", "first_name": "Bob"}) == {
        "firstname": "Ada"
    }


names = st.text(alphabet="abcXYZ _-", min_size=1, max_size=8).filter(lambda s: name_key(s))
values = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="()"), min_size=1)


@PROPERTY
@given(st.lists(st.tuples(st.text(alphabet="xy {}%\n", max_size=5), names), max_size=6), values)
def test_with_every_value_present_nothing_is_missing_and_no_placeholder_remains(parts, value):
    content = "".join(f"{text}(({name}))" for text, name in parts) + "end"
    value = value.strip() or "v"
    rendering = render(content, {name_key(name): value for _, name in parts})
    assert rendering.missing == []
    expected = "".join(f"{text}{value}" for text, _ in parts) + "end"
    assert rendering.text == expected


@PROPERTY
@given(st.lists(names, max_size=6))
def test_placeholders_lists_each_matching_name_once_in_first_appearance_order(written):
    content = " ".join(f"(({name}))" for name in written)
    keys = [name_key(n) for n in placeholders(content)]
    assert keys == list(dict.fromkeys(name_key(n.strip()) for n in written))

"""Checking a personalised send row by row: every problem named by row and column."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smspanel.services.content import count_segments
from smspanel.services.personalisation import check_rows

TEMPLATE = "Dear ((name)), your appointment is on ((date)) at ((clinic))."


def rows(*values: dict[str, object], phones: list[str] | None = None):
    """(row number, number, values) as the API numbers them: list position + 1."""
    phones = phones or [f"9{n:07d}" for n in range(len(values))]
    return [(n, phone, v) for n, (phone, v) in enumerate(zip(phones, values, strict=True), 1)]


FULL = {"name": "Ada", "date": "3 Dec", "clinic": "Kowloon"}


def problems(check):
    return [(p.row, p.column, p.kind) for p in check.problems]


def test_each_row_gets_its_own_text_and_segment_count():
    check = check_rows(TEMPLATE, rows(FULL, {**FULL, "name": "陳大文"}))
    assert check.problems == []
    assert [(r.row, r.phone, r.text) for r in check.rows] == [
        (1, "90000000", "Dear Ada, your appointment is on 3 Dec at Kowloon."),
        (2, "90000001", "Dear 陳大文, your appointment is on 3 Dec at Kowloon."),
    ]
    assert [r.segments for r in check.rows] == [1, 1]
    assert check.placeholders == ["name", "date", "clinic"]


def test_missing_and_blank_values_are_named_by_row_and_placeholder():
    check = check_rows(
        TEMPLATE,
        rows(FULL, {"name": "Bob", "date": "  "}, {"Name": "", "DATE": "4 Dec", "clinic": None}),
    )
    assert problems(check) == [
        (2, "date", "missing_value"),
        (2, "clinic", "missing_value"),
        (3, "name", "missing_value"),
        (3, "clinic", "missing_value"),
    ]
    assert check.missing_values and check.rows_with_problems == 2
    assert [r.row for r in check.rows] == [1]
    assert check.problems[0].message == "no value for ((date))"


def test_keys_the_template_does_not_use_are_ignored():
    check = check_rows(TEMPLATE, rows({**FULL, "ward": "7B", "notes": ""}))
    assert check.problems == [] and len(check.rows) == 1


def test_names_match_columns_loosely():
    check = check_rows(
        "Hi ((First name)) ((date_of-visit))",
        rows({"FIRST_NAME": "Ada", "Date Of Visit": "Mon"}),
    )
    assert [r.text for r in check.rows] == ["Hi Ada Mon"]


def test_a_text_over_1000_characters_refuses_that_row_by_number():
    check = check_rows(
        "((name)) " + "x" * 900,
        rows({"name": "a" * 50}, {"name": "a" * 100}, {"name": "a" * 99}),
    )
    assert problems(check) == [(2, "content", "too_long")]
    assert "1001 characters" in check.problems[0].message
    assert [len(r.text) for r in check.rows] == [951, 1000]


def test_the_suffix_counts_toward_the_length_and_the_segments():
    suffix = " EN:12345678"
    check = check_rows("((name))", rows({"name": "a" * 988}, {"name": "a" * 989}), suffix=suffix)
    assert problems(check) == [(2, "content", "too_long")]
    [row] = check.rows
    assert row.text == "a" * 988 + suffix and len(row.text) == 1000
    assert row.segments == count_segments(row.text) == 7

    [short] = check_rows("((name))", rows({"name": "a" * 150}), suffix=suffix).rows
    assert short.segments == 2  # 162 characters: the suffix makes it two SMS


def test_a_value_with_a_control_character_refuses_the_row():
    check = check_rows(TEMPLATE, rows({**FULL, "name": "A\x00da"}))
    assert problems(check) == [(1, "content", "invalid_text")]
    assert "U+0000" in check.problems[0].message


def test_a_repeated_number_keeps_its_first_row_and_says_so():
    phones = ["9123 4567", "98765432", "+852 91234567", "91234567"]
    values = [{**FULL, "name": n} for n in ("first", "other", "second", "third")]
    check = check_rows(TEMPLATE, rows(*values, phones=phones))
    assert [(r.row, r.phone, r.text.split(",")[0]) for r in check.rows] == [
        (1, "91234567", "Dear first"),
        (2, "98765432", "Dear other"),
    ]
    assert [(r.row, r.phone, r.first_row) for r in check.repeated] == [
        (3, "91234567", 1),
        (4, "91234567", 1),
    ]
    assert check.problems == []


def test_a_refused_first_row_does_not_hide_a_later_good_row_of_that_number():
    check = check_rows(TEMPLATE, rows({"name": "x"}, FULL, phones=["91234567", "91234567"]))
    assert problems(check) == [(1, "date", "missing_value"), (1, "clinic", "missing_value")]
    assert [r.row for r in check.rows] == [2] and check.repeated == []


def test_bad_numbers_are_named_with_what_was_written():
    check = check_rows(TEMPLATE, rows(FULL, FULL, phones=["1234-5678", "  "]))
    assert [(p.row, p.column, p.kind, p.value) for p in check.problems] == [
        (1, "phone", "invalid_phone", "1234-5678"),
        (2, "phone", "invalid_phone", "  "),
    ]
    assert check.problems[1].message == "no number"


def test_the_segments_total_is_the_sum_over_rows():
    check = check_rows("((text))", rows({"text": "a" * 161}, {"text": "中"}, {"text": "b"}))
    assert check.total_segments == 2 + 1 + 1


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(["Ada", "", " ", None]),
                "date": st.sampled_from(["Mon", ""]),
                "clinic": st.just("K"),
            },
        ),
        min_size=1,
        max_size=20,
    )
)
def test_every_row_is_either_sent_or_has_its_missing_placeholders_listed(values):
    check = check_rows(TEMPLATE, rows(*values))
    for number, value in enumerate(values, 1):
        missing = [
            name for name in ("name", "date", "clinic") if not str(value.get(name) or "").strip()
        ]
        listed = [p.column for p in check.problems if p.row == number]
        assert listed == missing
        assert (number in {r.row for r in check.rows}) == (not missing)

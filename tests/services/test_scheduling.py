"""`scheduled_at`: read as HKT without an offset, between 1 minute and 35 days ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smspanel.hktime import HKT
from smspanel.services.scheduling import InvalidSchedule, parse_scheduled_at, started_late

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 HKT


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-12-02T09:00", datetime(2026, 12, 2, 1, 0, tzinfo=UTC)),  # the form's, HKT
        ("2026-12-02 09:00", datetime(2026, 12, 2, 1, 0, tzinfo=UTC)),
        ("2026-12-02T09:00:30", datetime(2026, 12, 2, 1, 0, 30, tzinfo=UTC)),
        ("2026-12-02T09:00+08:00", datetime(2026, 12, 2, 1, 0, tzinfo=UTC)),
        ("2026-12-02T09:00:00Z", datetime(2026, 12, 2, 9, 0, tzinfo=UTC)),
        ("2026-12-02T09:00:00+00:00", datetime(2026, 12, 2, 9, 0, tzinfo=UTC)),
        ("2026-12-01T20:00-05:00", datetime(2026, 12, 2, 1, 0, tzinfo=UTC)),
        ("  2026-12-02T09:00  ", datetime(2026, 12, 2, 1, 0, tzinfo=UTC)),
    ],
)
def test_a_time_is_read_with_its_offset_or_as_hkt(written, expected):
    moment = parse_scheduled_at(written, NOW)
    assert moment == expected and moment.tzinfo == UTC


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_no_time_means_send_now(empty):
    assert parse_scheduled_at(empty, NOW) is None


def test_exactly_one_minute_and_exactly_35_days_ahead_are_allowed():
    assert parse_scheduled_at("2026-12-01T09:01", NOW) == NOW + timedelta(minutes=1)
    assert parse_scheduled_at("2027-01-05T09:00", NOW) == NOW + timedelta(days=35)


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("2026-12-01T09:00:59", "at least 1 minute from now"),
        ("2026-12-01T08:00", "at least 1 minute from now"),
        ("2020-01-01T00:00Z", "at least 1 minute from now"),
        ("2027-01-05T09:00:01", "more than 35 days ahead"),
        ("2030-01-01T00:00", "more than 35 days ahead"),
    ],
)
def test_times_out_of_range_are_refused_naming_scheduled_at(written, says):
    with pytest.raises(InvalidSchedule) as refused:
        parse_scheduled_at(written, NOW)
    assert str(refused.value).startswith("scheduled_at ") and says in str(refused.value)
    assert "HKT" in str(refused.value)


@pytest.mark.parametrize(
    "written",
    [
        "tomorrow",
        "2026-13-01T09:00",
        "2026-12-02",  # a date alone is not a time to send at
        "09:00",
        "2026-12-02T25:00",
        "9999-12-31T23:59-10:00",  # past the calendar's end once in UTC
        "0001-01-01T00:00+05:00",
        "9999-12-31T23:00Z",  # past the calendar's end once in HKT
        "2026-12-02T09:00\x00",
    ],
)
def test_unreadable_times_are_refused_naming_scheduled_at(written):
    with pytest.raises(InvalidSchedule) as refused:
        parse_scheduled_at(written, NOW)
    assert str(refused.value).startswith("scheduled_at ")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_a_time_in_range_or_a_refusal_naming_the_field(text):
    try:
        moment = parse_scheduled_at(text, NOW)
    except InvalidSchedule as refused:
        assert str(refused).startswith("scheduled_at ")
        return
    assert moment is None or NOW + timedelta(minutes=1) <= moment <= NOW + timedelta(days=35)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=60, max_value=35 * 86400))
def test_every_second_in_range_round_trips_through_hkt(seconds):
    moment = NOW + timedelta(seconds=seconds)
    written = moment.astimezone(HKT).replace(tzinfo=None).isoformat()
    assert parse_scheduled_at(written, NOW) == moment


def test_a_start_more_than_two_minutes_after_the_schedule_is_late():
    at = NOW
    assert not started_late(at, at + timedelta(minutes=2))
    assert started_late(at, at + timedelta(minutes=2, seconds=1))
    assert not started_late(None, at) and not started_late(at, None)

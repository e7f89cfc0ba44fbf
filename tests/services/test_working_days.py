"""Hong Kong working days: weekdays that are not general holidays."""

from datetime import date

import pytest

from smspanel.services.working_days import is_working_day, working_days_after


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 12, 24), True),  # Thursday
        (date(2026, 12, 25), False),  # Christmas Day
        (date(2026, 12, 26), False),  # Saturday, and the first weekday after Christmas
        (date(2026, 12, 27), False),  # Sunday
        (date(2026, 12, 28), True),
        (date(2027, 2, 8), False),  # the third day of the Lunar New Year
        (date(2026, 4, 3), False),  # Good Friday, a general holiday
        (date(2026, 10, 1), False),  # National Day
    ],
)
def test_weekends_and_general_holidays_are_not_working_days(day, working):
    assert is_working_day(day) is working


def test_working_days_after_a_day_count_up_to_and_including_the_end():
    assert working_days_after(date(2026, 12, 24), date(2026, 12, 24)) == 0
    assert working_days_after(date(2026, 12, 24), date(2026, 12, 29)) == 2
    assert working_days_after(date(2026, 12, 29), date(2026, 12, 24)) == 0

"""Hong Kong working days: not a Saturday, a Sunday or a general holiday.

General holidays are those of the General Holidays Ordinance (Cap. 149), the days banks and
government offices close, as the `holidays` package computes them (its `optional`
category for Hong Kong); the statutory holidays of the Employment Ordinance are included
too, though on a weekday they are always general holidays as well. The package is pinned
(requirements.txt): a newer release brings holidays the government announces later, such
as a one-off day off.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays
from holidays.constants import OPTIONAL, PUBLIC


@lru_cache(maxsize=64)
def _holidays_of(year: int) -> frozenset[date]:
    found = holidays.country_holidays("HK", years=year, categories=(PUBLIC, OPTIONAL))
    return frozenset(found)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays_of(day.year)


def working_days_after(start: date, end: date) -> int:
    """How many working days come after `start`, up to and including `end` (0 if none)."""
    count, day = 0, start + timedelta(days=1)
    while day <= end:
        count += is_working_day(day)
        day += timedelta(days=1)
    return count

"""When a send goes out: now, or at a `scheduled_at` between 1 minute and 35 days ahead.

A scheduled message's recipients are queued with that time as their due time, so the
dispatcher's ordinary claim takes them when it comes (and after any restart); the first
claim turns the message from `scheduled` to `pending` and notes when it started.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from smspanel.hktime import HKT, format_hkt
from smspanel.services.wording import _

EARLIEST_AHEAD = timedelta(minutes=1)
LATEST_AHEAD = timedelta(days=35)
# Started this long after its time, a scheduled message is shown as late (every process
# was down when it came due, or the queue was that far behind).
LATE_AFTER = timedelta(minutes=2)


class InvalidSchedule(ValueError):
    """`scheduled_at` is unreadable or out of range; the message names the field."""


def parse_scheduled_at(value: str | None, now: datetime) -> datetime | None:
    """The UTC instant to send at, or None to send now. Without an offset it is HKT.

    Accepts ISO 8601 (`2026-12-02T09:00`, `…:00+08:00`, `…Z`) and the form's
    `YYYY-MM-DDTHH:MM`.
    """
    if value is None or not value.strip():
        return None
    text = value.strip().replace(" ", "T", 1)
    try:
        # A date alone is not a time to send at; and the parser would overlook a NUL.
        if "T" not in text or not (text.isascii() and text.isprintable()):
            raise ValueError(text)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=HKT)
        moment = moment.astimezone(UTC)
        # Near the ends of the calendar, HKT itself is out of range: never a valid time.
        moment.astimezone(HKT)
    except (ValueError, OverflowError):
        raise InvalidSchedule(
            _(
                "scheduled_at %(value)s is not a date and time "
                "(use YYYY-MM-DDTHH:MM in HKT, or ISO 8601 with an offset)",
                value=repr(value.strip()[:40]),
            )
        ) from None
    if moment < now + EARLIEST_AHEAD:
        raise InvalidSchedule(
            _(
                "scheduled_at %(when)s must be at least 1 minute from now "
                "(now %(now)s); leave it empty to send now",
                when=format_hkt(moment),
                now=format_hkt(now),
            )
        )
    if moment > now + LATEST_AHEAD:
        raise InvalidSchedule(
            _(
                "scheduled_at %(when)s is more than 35 days ahead (latest %(latest)s)",
                when=format_hkt(moment),
                latest=format_hkt(now + LATEST_AHEAD),
            )
        )
    return moment


def started_late(scheduled_at: datetime | None, started_at: datetime | None) -> bool:
    return (
        scheduled_at is not None
        and started_at is not None
        and started_at - scheduled_at > LATE_AFTER
    )

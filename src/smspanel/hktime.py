"""Hong Kong time: stored as UTC, shown to people as HKT."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Flask

HKT = ZoneInfo("Asia/Hong_Kong")


def to_hkt(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(HKT)


def format_hkt(moment: datetime | None, with_seconds: bool = False) -> str:
    local = to_hkt(moment)
    if local is None:
        return "—"
    pattern = "%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M"
    return f"{local.strftime(pattern)} HKT"


def hkt_day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    """The UTC instants at which a Hong Kong calendar day starts and ends."""
    start = datetime.combine(day, time.min, tzinfo=HKT)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def init_app(app: Flask) -> None:
    app.add_template_filter(format_hkt, "hkt")

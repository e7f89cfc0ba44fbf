"""The dashboard's figures: totals over a time window, the queue, recent messages, 14 days.

Every figure is one aggregate query over the counter columns on Message, never a query
per message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from smspanel.hktime import hkt_day_bounds_utc, to_hkt
from smspanel.models import Message, MessageStatus, User, utcnow
from smspanel.services.delivery.claims import queued_count
from smspanel.services.ownership import MessageScope

CHART_DAYS = 14
TIME_FILTERS = {"today": "Today", "3h": "Last 3 hours", "7d": "Last 7 days"}
DEFAULT_TIME_FILTER = "today"


@dataclass(frozen=True)
class TimeWindow:
    key: str
    label: str
    start: datetime


def time_window(raw: str | None, now: datetime | None = None) -> TimeWindow:
    """The dashboard's window: today (HKT), the last 3 hours or the last 7 days."""
    now = now or utcnow()
    key = raw if raw in TIME_FILTERS else DEFAULT_TIME_FILTER
    if key == "3h":
        start = now - timedelta(hours=3)
    elif key == "7d":
        start = now - timedelta(days=7)
    else:
        today = to_hkt(now).date()  # type: ignore[union-attr]
        start = hkt_day_bounds_utc(today)[0]
    return TimeWindow(key, TIME_FILTERS[key], start)


@dataclass(frozen=True)
class DayTotals:
    day: date
    sent: int
    failed: int


@dataclass(frozen=True)
class Dashboard:
    window: TimeWindow
    recent: list[Any]  # (Message, username) rows, newest first
    message_count: int
    sent: int
    failed: int
    queued: int
    days: list[DayTotals]
    upcoming: list[Any]  # (Message, username) rows of scheduled messages, soonest first
    upcoming_count: int

    @property
    def chart_max(self) -> int:
        return max([1, *(max(d.sent, d.failed) for d in self.days)])


def daily_totals(
    session: Session, scope: MessageScope, days: int = CHART_DAYS, now: datetime | None = None
) -> list[DayTotals]:
    """Recipients sent and failed per HKT day (by the message's day), oldest first.

    One aggregate query: each message is placed in its HKT day by a CASE over the day bounds.
    """
    today = to_hkt(now or utcnow()).date()  # type: ignore[union-attr]
    day_list = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    bounds = [hkt_day_bounds_utc(day) for day in day_list]
    bucket = case(
        *(
            (and_(Message.created_at >= start, Message.created_at < end), index)
            for index, (start, end) in enumerate(bounds)
        ),
        else_=None,
    )
    query = (
        select(
            bucket.label("bucket"),
            func.coalesce(func.sum(Message.sent_count), 0),
            func.coalesce(func.sum(Message.failed_count), 0),
        )
        .where(Message.created_at >= bounds[0][0], Message.created_at < bounds[-1][1])
        .where(*scope.conditions())
        .group_by(bucket)
    )
    found = {row[0]: (int(row[1]), int(row[2])) for row in session.execute(query).all()}
    return [DayTotals(day, *found.get(index, (0, 0))) for index, day in enumerate(day_list)]


def _recipients_left(session: Session, scope: MessageScope, status: str) -> int:
    """Recipients not yet final over the messages of one status, from the counters."""
    left = (
        Message.recipient_count
        - Message.sent_count
        - Message.failed_count
        - Message.skipped_count
        - Message.cancelled_count
    )
    return int(
        session.scalar(
            select(func.coalesce(func.sum(left), 0))
            .where(Message.status == status)
            .where(*scope.conditions())
        )
        or 0
    )


def _queued(session: Session, scope: MessageScope) -> int:
    """Recipients still to send, scheduled ones and those awaiting approval aside: for
    everyone the queue's own count."""
    if scope.everyone:
        scheduled = _recipients_left(session, scope, MessageStatus.SCHEDULED)
        held = _recipients_left(session, scope, MessageStatus.AWAITING_APPROVAL)
        return max(0, queued_count(session) - scheduled - held)
    return _recipients_left(session, scope, MessageStatus.PENDING)


def _upcoming(session: Session, scope: MessageScope, limit: int) -> tuple[list[Any], int]:
    scheduled = (Message.status == MessageStatus.SCHEDULED, *scope.conditions())
    rows = session.execute(
        select(Message, User.username)
        .outerjoin(User, User.id == Message.user_id)
        .where(*scheduled)
        .order_by(Message.scheduled_at, Message.id)
        .limit(limit)
    ).all()
    count = session.scalar(select(func.count(Message.id)).where(*scheduled)) or 0
    return list(rows), int(count)


def dashboard(
    session: Session,
    scope: MessageScope,
    time_filter: str | None,
    recent_limit: int = 20,
    now: datetime | None = None,
    upcoming_limit: int = 10,
) -> Dashboard:
    """The dashboard's figures for the messages in `scope` over the chosen window."""
    window = time_window(time_filter, now)
    in_window = Message.created_at >= window.start
    totals = session.execute(
        select(
            func.count(Message.id),
            func.coalesce(func.sum(Message.sent_count), 0),
            func.coalesce(func.sum(Message.failed_count), 0),
        )
        .where(in_window)
        .where(*scope.conditions())
    ).one()
    recent = list(
        session.execute(
            select(Message, User.username)
            .outerjoin(User, User.id == Message.user_id)
            .where(in_window)
            .where(*scope.conditions())
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(recent_limit)
        ).all()
    )
    upcoming, upcoming_count = _upcoming(session, scope, upcoming_limit)
    return Dashboard(
        window=window,
        recent=recent,
        message_count=int(totals[0]),
        sent=int(totals[1]),
        failed=int(totals[2]),
        queued=_queued(session, scope),
        days=daily_totals(session, scope, now=now),
        upcoming=upcoming,
        upcoming_count=upcoming_count,
    )

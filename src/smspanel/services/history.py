"""Reading what happened: message listings, filters, pagination and dashboard figures.

Every listing is one query for the page plus one count; per-message figures come from the
counter columns on Message, never from a query per row. Filters arrive as a plain mapping
(the query string), so these functions work without a request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from smspanel.hktime import hkt_day_bounds_utc, to_hkt
from smspanel.models import (
    DeadLetter,
    DeadLetterStatus,
    Message,
    MessageStatus,
    Recipient,
    RecipientStatus,
    User,
    utcnow,
)
from smspanel.services.queue import queued_count

T = TypeVar("T")

MESSAGES_PER_PAGE = 20
RECIPIENTS_PER_PAGE = 50
DEAD_LETTERS_PER_PAGE = 25
USERS_PER_PAGE = 50
MAX_SEARCH_LENGTH = 200
CHART_DAYS = 14

TIME_FILTERS = {"today": "Today", "3h": "Last 3 hours", "7d": "Last 7 days"}
DEFAULT_TIME_FILTER = "today"


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and where it sits among the others."""

    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last_index(self) -> int:
        return min(self.page * self.per_page, self.total)


def parse_page(raw: str | None) -> int:
    """A page number from the query string; anything unusable means the first page."""
    try:
        return max(1, int(raw or 1))
    except ValueError:
        return 1


def paginate(session: Session, query: Select, page: int, per_page: int) -> Page[Any]:
    """Run `query` for one page (clamped to the last page) and count all its rows."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = list(session.execute(query.limit(per_page).offset((page - 1) * per_page)).all())
    return Page(items=rows, total=total, page=page, per_page=per_page)


@dataclass
class HistoryFilters:
    """The /history and /admin/messages query: search, status and an HKT date range."""

    search: str = ""
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> HistoryFilters:
        """Read the query parameters; an unusable value is dropped and named in `errors`."""
        filters = cls(
            search="".join(ch for ch in (args.get("search") or "") if ch.isprintable()).strip()[
                :MAX_SEARCH_LENGTH
            ],
            page=parse_page(args.get("page")),
        )
        status = (args.get("status") or "").strip().lower()
        if status in MessageStatus.ALL:
            filters.status = status
        elif status:
            filters.errors.append(
                f"unknown status {status!r}; choose one of {', '.join(MessageStatus.ALL)}"
            )
        filters.date_from = filters._parse_day(args, "date_from", "from")
        filters.date_to = filters._parse_day(args, "date_to", "to")
        if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
            filters.errors.append("the 'from' date is after the 'to' date; nothing can match")
        return filters

    def _parse_day(self, args: Mapping[str, str], name: str, label: str) -> date | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.errors.append(f"'{label}' date {raw!r} is not a date (YYYY-MM-DD)")
            return None

    @property
    def active(self) -> bool:
        return bool(self.search or self.status or self.date_from or self.date_to)

    def query_args(self) -> dict[str, str]:
        """The filters as query parameters, for links that keep them (pagination)."""
        args = {
            "search": self.search,
            "status": self.status,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }
        return {k: v for k, v in args.items() if v}


def _phone_digits(search: str) -> str | None:
    """The digits to look for among numbers, when the search looks like (part of) a number."""
    compact = search.replace(" ", "").removeprefix("+852")
    return compact if compact.isdigit() else None


def message_query(filters: HistoryFilters, user_id: int | None) -> Select:
    """Messages (with the sender's username) matching `filters`, newest first.

    `user_id` None means every user's messages (the admin view).
    """
    query = select(Message, User.username).outerjoin(User, User.id == Message.user_id)
    if user_id is not None:
        query = query.where(Message.user_id == user_id)
    if filters.status:
        query = query.where(Message.status == filters.status)
    if filters.date_from:
        query = query.where(Message.created_at >= hkt_day_bounds_utc(filters.date_from)[0])
    if filters.date_to:
        query = query.where(Message.created_at < hkt_day_bounds_utc(filters.date_to)[1])
    if filters.search:
        matches = [func.lower(Message.content).contains(filters.search.lower(), autoescape=True)]
        digits = _phone_digits(filters.search)
        if digits:
            matches.append(
                exists().where(
                    Recipient.message_id == Message.id,
                    Recipient.phone.contains(digits, autoescape=True),
                )
            )
        query = query.where(or_(*matches))
    return query.order_by(Message.created_at.desc(), Message.id.desc())


def list_messages(
    session: Session,
    filters: HistoryFilters,
    user_id: int | None,
    per_page: int = MESSAGES_PER_PAGE,
) -> Page[Any]:
    """One page of (Message, username) rows for the history pages."""
    return paginate(session, message_query(filters, user_id), filters.page, per_page)


def find_message(session: Session, message_id: int, user_id: int | None) -> Message | None:
    """The message if `user_id` may see it (None: any user's, for admins)."""
    message = session.get(Message, message_id)
    if message is None or (user_id is not None and message.user_id != user_id):
        return None
    return message


def sender_name(session: Session, message: Message) -> str | None:
    if message.user_id is None:
        return None
    return session.scalar(select(User.username).where(User.id == message.user_id))


def list_recipients(
    session: Session,
    message_id: int,
    page: int,
    status: str = "",
    per_page: int = RECIPIENTS_PER_PAGE,
) -> Page[Any]:
    """One page of a message's recipients (optionally of one status), in the order sent."""
    query = select(Recipient).where(Recipient.message_id == message_id)
    if status in RecipientStatus.ALL:
        query = query.where(Recipient.status == status)
    return paginate(session, query.order_by(Recipient.id), page, per_page)


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

    @property
    def chart_max(self) -> int:
        return max([1, *(max(d.sent, d.failed) for d in self.days)])


def _owned(query: Select, user_id: int | None) -> Select:
    return query if user_id is None else query.where(Message.user_id == user_id)


def daily_totals(
    session: Session, user_id: int | None, days: int = CHART_DAYS, now: datetime | None = None
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
    query = _owned(
        select(
            bucket.label("bucket"),
            func.coalesce(func.sum(Message.sent_count), 0),
            func.coalesce(func.sum(Message.failed_count), 0),
        ).where(Message.created_at >= bounds[0][0], Message.created_at < bounds[-1][1]),
        user_id,
    ).group_by(bucket)
    found = {row[0]: (int(row[1]), int(row[2])) for row in session.execute(query).all()}
    return [DayTotals(day, *found.get(index, (0, 0))) for index, day in enumerate(day_list)]


def dashboard(
    session: Session,
    user_id: int | None,
    time_filter: str | None,
    recent_limit: int = 20,
    now: datetime | None = None,
) -> Dashboard:
    """The dashboard's figures for one user (None: everyone) over the chosen window."""
    window = time_window(time_filter, now)
    in_window = Message.created_at >= window.start
    totals = session.execute(
        _owned(
            select(
                func.count(Message.id),
                func.coalesce(func.sum(Message.sent_count), 0),
                func.coalesce(func.sum(Message.failed_count), 0),
            ).where(in_window),
            user_id,
        )
    ).one()
    recent = list(
        session.execute(
            _owned(
                select(Message, User.username)
                .outerjoin(User, User.id == Message.user_id)
                .where(in_window),
                user_id,
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(recent_limit)
        ).all()
    )
    if user_id is None:
        queued = queued_count(session)
    else:
        queued = int(
            session.scalar(
                _owned(
                    select(
                        func.coalesce(
                            func.sum(
                                Message.recipient_count - Message.sent_count - Message.failed_count
                            ),
                            0,
                        )
                    ).where(Message.status == MessageStatus.PENDING),
                    user_id,
                )
            )
            or 0
        )
    return Dashboard(
        window=window,
        recent=recent,
        message_count=int(totals[0]),
        sent=int(totals[1]),
        failed=int(totals[2]),
        queued=queued,
        days=daily_totals(session, user_id, now=now),
    )


def list_dead_letters(
    session: Session, status: str, page: int, per_page: int = DEAD_LETTERS_PER_PAGE
) -> Page[Any]:
    """One page of (DeadLetter, message content) rows, newest first, optionally of one status."""
    query = select(DeadLetter, Message.content).join(Message, Message.id == DeadLetter.message_id)
    if status in DeadLetterStatus.ALL:
        query = query.where(DeadLetter.status == status)
    return paginate(
        session, query.order_by(DeadLetter.created_at.desc(), DeadLetter.id.desc()), page, per_page
    )

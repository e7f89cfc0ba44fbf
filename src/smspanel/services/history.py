"""The history listing: keyset pages of messages, searches in a window, capped counts.

Every page is one query for its rows plus one count; per-message figures come from the
counter columns on Message, never from a query per row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select, union
from sqlalchemy.orm import Session

from smspanel.hktime import hkt_day_bounds_utc
from smspanel.models import Message, Recipient, User
from smspanel.services.history_filters import HistoryFilters
from smspanel.services.ownership import MessageScope
from smspanel.services.pagination import Page
from smspanel.services.text_search import contains_digits, contains_text

MESSAGES_PER_PAGE = 20
# Listings count matches up to here and then say "more than 10,000": an exact count of a
# million rows costs more than the rest of the page, and nobody pages through that many.
COUNT_CAP = 10_000
# A search reads the newest this many messages of the listing (after the other filters);
# dates reach further back. A whole phone number is looked up in all history by index.
SEARCH_WINDOW = 10_000


def _phone_digits(search: str) -> str | None:
    """The digits to look for among numbers, when the search looks like (part of) a number."""
    compact = search.replace(" ", "").removeprefix("+852")
    return compact if compact.isdigit() else None


def _older_than(created_at: datetime, message_id: int) -> Any:
    """Messages after (created_at, id) in newest-first order; the leading `<=` uses the index."""
    return and_(
        Message.created_at <= created_at,
        or_(Message.created_at < created_at, Message.id < message_id),
    )


def _newer_than(created_at: datetime, message_id: int) -> Any:
    return and_(
        Message.created_at >= created_at,
        or_(Message.created_at > created_at, Message.id > message_id),
    )


NEWEST_FIRST = (Message.created_at.desc(), Message.id.desc())
OLDEST_FIRST = (Message.created_at, Message.id)


def _indexed_conditions(filters: HistoryFilters) -> list[Any]:
    """Status and HKT dates: the filters an index answers (with the scope's owner)."""
    conditions: list[Any] = []
    if filters.status:
        conditions.append(Message.status == filters.status)
    if filters.date_from:
        conditions.append(Message.created_at >= hkt_day_bounds_utc(filters.date_from)[0])
    if filters.date_to:
        conditions.append(Message.created_at < hkt_day_bounds_utc(filters.date_to)[1])
    return conditions


def _search_window_start(session: Session, indexed: list[list[Any]]) -> datetime | None:
    """When the newest SEARCH_WINDOW messages matching `indexed` begin (None: fewer match)."""
    nth = _positions(indexed, (), newest_first=True, limit=1, offset=SEARCH_WINDOW - 1)
    return session.scalar(select(nth.c.created_at))


def _search_branches(
    indexed: list[list[Any]], search: str, window_start: datetime | None
) -> list[list[Any]]:
    """What a search matches within each of `indexed`'s alternatives, as alternatives
    (each a list of conditions, ANDed).

    Content (any case) or part of a number is read within the window. A whole number is
    also looked up in all history through the recipients' phone index: a further
    alternative, so each is answered by its own index (an OR would read every message).
    """
    in_window = [Message.created_at >= window_start] if window_start is not None else []
    matches = [contains_text(Message.content, search)]
    digits = _phone_digits(search)
    if digits and len(digits) < 8:
        matches.append(
            exists().where(
                Recipient.message_id == Message.id,
                contains_digits(Recipient.phone, digits),
            )
        )
    branches = [[*alternative, *in_window, or_(*matches)] for alternative in indexed]
    if digits and len(digits) == 8:
        sent_to = select(Recipient.message_id).where(Recipient.phone == digits)
        branches += [[*alternative, Message.id.in_(sent_to)] for alternative in indexed]
    return branches


def message_branches(
    session: Session, filters: HistoryFilters, scope: MessageScope
) -> tuple[list[list[Any]], datetime | None]:
    """What `filters` match within `scope`, as alternatives of ANDed conditions (usually
    one), and where a search's window starts (if it has one)."""
    filtered = _indexed_conditions(filters)
    indexed = [[*alternative, *filtered] for alternative in scope.alternatives()]
    if not filters.search:
        return indexed, None
    window_start = _search_window_start(session, indexed)
    return _search_branches(indexed, filters.search, window_start), window_start


def _positions(
    branches: list[list[Any]],
    extra: tuple[Any, ...],
    *,
    newest_first: bool,
    limit: int | None,
    offset: int = 0,
) -> Any:
    """(id, created_at) of the messages matching any branch (and `extra`), in listing
    order, as a subquery. With a limit each branch reads only as far as the page reaches
    (limit + offset) along its own index before the branches are merged."""
    order = NEWEST_FIRST if newest_first else OLDEST_FIRST
    reach = None if limit is None else limit + offset
    parts = []
    for branch in branches:
        part = select(Message.id, Message.created_at).where(*branch, *extra)
        if reach is not None and len(branches) > 1:
            # A subquery of its own: SQLite allows no ORDER BY/LIMIT on a UNION's parts.
            part = select(*part.order_by(*order).limit(reach).subquery().c)
        parts.append(part)
    if len(parts) == 1:
        return parts[0].order_by(*order).limit(limit).offset(offset or None).subquery()
    # Ordered on the UNION itself, so SQLite merges the ordered parts instead of sorting.
    either = union(*parts)
    at, key = either.selected_columns.created_at, either.selected_columns.id
    merged = either.order_by(*((at.desc(), key.desc()) if newest_first else (at, key)))
    return merged.limit(limit).offset(offset or None).subquery()


def matching_ids(
    branches: list[list[Any]],
    *extra: Any,
    newest_first: bool = True,
    limit: int | None = None,
    offset: int = 0,
) -> Select:
    """Ids of the messages matching any branch (and `extra`), in listing order; pass the
    page's `limit`/`offset` here (not on the result), so each branch stops at the page."""
    if len(branches) == 1:
        order = NEWEST_FIRST if newest_first else OLDEST_FIRST
        query = select(Message.id).where(*branches[0], *extra).order_by(*order)
        return query if limit is None else query.limit(limit).offset(offset or None)
    found = _positions(branches, extra, newest_first=newest_first, limit=limit, offset=offset)
    if newest_first:
        return select(found.c.id).order_by(found.c.created_at.desc(), found.c.id.desc())
    return select(found.c.id).order_by(found.c.created_at, found.c.id)


def _count_capped(session: Session, branches: list[list[Any]]) -> tuple[int, bool]:
    """Matching messages counted up to COUNT_CAP; True when there are more than that.

    Alternatives are first counted each up to the cap, from its own index alone: if one
    passes it, so does the listing. Only alternatives all within it are merged (at most
    COUNT_CAP entries each), which a department with a long history never needs."""
    if len(branches) > 1:
        each = [
            select(func.count())
            .select_from(select(Message.id).where(*branch).limit(COUNT_CAP + 1).subquery())
            .scalar_subquery()
            for branch in branches
        ]
        if any(count > COUNT_CAP for count in session.execute(select(*each)).one()):
            return COUNT_CAP, True
        total = count_exact(session, branches)
        return min(total, COUNT_CAP), total > COUNT_CAP
    found = matching_ids(branches, limit=COUNT_CAP + 1).order_by(None).subquery()
    total = session.scalar(select(func.count()).select_from(found)) or 0
    return min(total, COUNT_CAP), total > COUNT_CAP


def count_exact(session: Session, branches: list[list[Any]]) -> int:
    """Every message matching any branch, counted (each from its index, merged)."""
    found = matching_ids(branches).order_by(None).subquery()
    return session.scalar(select(func.count()).select_from(found)) or 0


def _with_sender(ids: Select) -> Select:
    """(Message, username) for the message ids `ids` selects, newest first.

    The page's ids are found first, from the index alone; only those rows are read
    (a deferred join: OFFSET then skips index entries, not whole rows).
    """
    chosen = ids.subquery()
    return (
        select(Message, User.username)
        .join(chosen, chosen.c.id == Message.id)
        .outerjoin(User, User.id == Message.user_id)
        .order_by(*NEWEST_FIRST)
    )


def _cursor(
    session: Session, message_id: int | None, scope: MessageScope
) -> tuple[datetime, int] | None:
    """The position of the message a Next/Previous link names, if it is within `scope`."""
    if message_id is None:
        return None
    row = session.execute(
        select(Message.created_at, Message.id).where(Message.id == message_id, *scope.conditions())
    ).first()
    return (row[0], row[1]) if row else None


@dataclass(frozen=True)
class HistoryPage(Page[Any]):
    """One page of (Message, username) rows.

    The total is exact up to COUNT_CAP and a lower bound beyond it (`total_is_capped`).
    Next/Previous links carry the neighbouring message's id (`before`/`after`) besides the
    page number, so walking a long history costs the same on every page.
    """

    more: bool = False  # a next page exists (the total alone cannot tell once capped)
    search_window_start: datetime | None = None  # a search read only messages since then
    search_window: int = SEARCH_WINDOW

    @property
    def has_next(self) -> bool:
        return self.more

    def next_args(self, filters: Mapping[str, Any]) -> dict[str, Any]:
        """The filters, the next page number and the last id shown."""
        return {**filters, "page": str(self.page + 1), "before": str(self.items[-1][0].id)}

    def prev_args(self, filters: Mapping[str, Any]) -> dict[str, Any]:
        """Page 1 is the plain first page; others go by the first id shown."""
        if self.page <= 2:
            return dict(filters)
        return {**filters, "page": str(self.page - 1), "after": str(self.items[0][0].id)}


def list_messages(
    session: Session,
    filters: HistoryFilters,
    scope: MessageScope,
    per_page: int = MESSAGES_PER_PAGE,
) -> HistoryPage:
    """One page of (Message, username) rows within `scope` for the history pages, newest first.

    With `before`/`after` (from Next/Previous links) the page starts next to that message;
    otherwise `page` counts from the newest (a deep page number reads the index that far).
    A page number past the end shows the last page.
    """
    branches, window_start = message_branches(session, filters, scope)
    total, capped = _count_capped(session, branches)
    page = filters.page
    before = _cursor(session, filters.before, scope)
    after = None if before else _cursor(session, filters.after, scope)
    rows: list[Any] = []
    if before:
        found = matching_ids(branches, _older_than(*before), limit=per_page + 1)
        rows = list(session.execute(_with_sender(found)).all())
    elif after:
        nearest = matching_ids(
            branches, _newer_than(*after), newest_first=False, limit=per_page + 1
        )
        rows = list(session.execute(_with_sender(nearest)).all())
        if len(rows) > per_page:  # newer pages remain: keep the per_page next to the cursor
            rows = [*rows[1:], None]  # the placeholder says "a next page exists" (the cursor)
        else:  # reached the newest messages: that is simply the first page
            page, rows = 1, []
    if not rows:
        if not capped:
            page = min(page, max(1, math.ceil(total / per_page)))
        rows = _page_by_number(session, branches, page, per_page)
        if not rows and page > 1:  # past the end of a history longer than COUNT_CAP
            total, capped = count_exact(session, branches), False
            page = max(1, math.ceil(total / per_page))
            rows = _page_by_number(session, branches, page, per_page)
    has_next = len(rows) > per_page
    rows = [row for row in rows[:per_page] if row is not None]
    return HistoryPage(
        items=rows,
        total=max(total, (page - 1) * per_page + len(rows)),
        total_is_capped=capped,
        page=page,
        per_page=per_page,
        more=has_next,
        search_window_start=window_start,
        search_window=SEARCH_WINDOW,
    )


def _page_by_number(
    session: Session, branches: list[list[Any]], page: int, per_page: int
) -> list[Any]:
    """Rows of page `page` (plus one more, to tell whether a next page exists)."""
    found = matching_ids(branches, limit=per_page + 1, offset=(page - 1) * per_page)
    return list(session.execute(_with_sender(found)).all())

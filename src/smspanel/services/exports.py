"""CSV downloads: a message's recipients, and the messages a history listing shows.

Files are made for Excel as Hong Kong offices use it: UTF-8 with a byte-order mark (without
it Excel reads Chinese as mojibake), CRLF rows, times in HKT, and every cell that Excel
would take for a formula neutralised (OWASP's advice on CSV injection). They are produced as
they are sent: rows are read in keyset pages, each in its own short read transaction, and
each page becomes one chunk of text, so memory stays flat for 100,000 recipients and no
long transaction holds up the dispatcher's writes (or SQLite's checkpoints). A file is
therefore not one snapshot: a message still being sent may change between two pages.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from smspanel.hktime import to_hkt
from smspanel.models import Message, Recipient, User, utcnow
from smspanel.services import audit
from smspanel.services.history import NEWEST_FIRST, matching_ids, message_branches
from smspanel.services.history_filters import HistoryFilters
from smspanel.services.ownership import MessageScope
from smspanel.services.transactions import transaction

BOM = "\ufeff"
CONTENT_TYPE = "text/csv; charset=utf-8"
RECIPIENT_COLUMNS = ("phone", "status", "skip_reason", "attempts", "sent_at_hkt", "error_message")
PERSONALISED_COLUMN = "content"  # last, and only for a personalised message
MESSAGE_COLUMNS = (
    "id",
    "created_at_hkt",
    "sender",
    "status",
    "recipient_count",
    "success_count",
    "failed_count",
    "skipped_count",
    "content",
)
# A page of 2,000 personalised rows is about 3 MB of Python objects while it is written out
# (5,000 took the worker's RSS up 14 MB); smaller pages cost no time that can be measured.
RECIPIENT_PAGE_ROWS = 2_000
MESSAGE_PAGE_ROWS = 1_000  # a message row carries up to 1,000 characters of content
# What spreadsheets take as the start of a formula (OWASP: CSV injection), tab and CR included.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> object:
    """A text cell that could start a formula gets a leading `'`, which Excel shows as text.

    Applied to the free text in a file (content, gateway errors, usernames): numbers, phone
    digits, statuses and times cannot start with any of FORMULA_STARTS.
    """
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def hkt_cell(moment: datetime | None) -> str:
    """`YYYY-MM-DD HH:MM:SS` in Hong Kong time; empty when there is no time."""
    local = to_hkt(moment)
    # isoformat, not strftime: a quarter quicker, which counts over 100,000 rows.
    return local.isoformat(" ", "seconds")[:19] if local is not None else ""


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """Rows as CSV text in Excel's dialect: quoted where needed, CRLF line ends."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def recipient_columns(personalised: bool) -> tuple[str, ...]:
    return (*RECIPIENT_COLUMNS, PERSONALISED_COLUMN) if personalised else RECIPIENT_COLUMNS


def recipient_rows(
    page: Iterable[Sequence[Any]], personalised: bool, message_content: str
) -> Iterator[tuple[object, ...]]:
    """Each recipient's cells (RECIPIENT_CELLS in, RECIPIENT_COLUMNS out); `skip_reason` is
    empty but for a skipped recipient."""
    for _, phone, status, skip_reason, attempts, sent_at, error_message, content in page:
        cells: tuple[object, ...] = (
            phone,
            status,
            skip_reason or "",
            attempts,
            hkt_cell(sent_at),
            neutralise(error_message or ""),
        )
        if personalised:
            text = content if content is not None else message_content
            cells = (*cells, neutralise(text))
        yield cells


def message_rows(page: Iterable[Sequence[Any]]) -> Iterator[tuple[object, ...]]:
    """Each message's cells (MESSAGE_CELLS in, MESSAGE_COLUMNS out); the sender is empty
    once their account is deleted."""
    for message_id, created_at, username, status, *counts, content in page:
        sender = neutralise(username or "")
        yield (message_id, hkt_cell(created_at), sender, status, *counts, neutralise(content))


@dataclass(frozen=True)
class CsvExport:
    """A file to send: its name and its text, produced chunk by chunk as it is read."""

    filename: str
    chunks: Iterator[str]

    def headers(self) -> dict[str, str]:
        """A download, never kept by a browser or a proxy: it holds citizens' numbers."""
        return {
            "Content-Type": CONTENT_TYPE,
            "Content-Disposition": f'attachment; filename="{self.filename}"',
            "Cache-Control": "no-store",
        }


# --- a message's recipients -------------------------------------------------------------------


def export_recipients(
    session: Session, message: Message, page_rows: int = RECIPIENT_PAGE_ROWS
) -> CsvExport:
    """Every recipient of `message`, in the order they were sent; the export is audited now.

    The caller has found the message within its reader's scope (ownership.find_message).
    """
    message_id, personalised, content = message.id, message.personalised, message.content
    count = message.recipient_count
    with transaction(session, write=True):
        audit.record(session, "export.recipients", f"message:{message_id}", f"{count} recipient(s)")
    return CsvExport(
        f"message-{message_id}-recipients.csv",
        _recipient_chunks(session, message_id, personalised, content, page_rows),
    )


def _recipient_chunks(
    session: Session, message_id: int, personalised: bool, content: str, page_rows: int
) -> Iterator[str]:
    yield BOM + csv_text([recipient_columns(personalised)])
    for page in recipient_pages(session, message_id, page_rows):
        yield csv_text(recipient_rows(page, personalised, content))


def _rows(session: Session, query: Select) -> list[Any]:
    """Plain rows through the session's connection: the ORM's row handling would cost more
    than the rest of a 100,000-row file."""
    return list(session.connection().execute(query).all())


RECIPIENT_CELLS = (
    Recipient.id,
    Recipient.phone,
    Recipient.status,
    Recipient.skip_reason,
    Recipient.attempts,
    Recipient.sent_at,
    Recipient.error_message,
    Recipient.content,
)


def recipient_pages(
    session: Session, message_id: int, page_rows: int = RECIPIENT_PAGE_ROWS
) -> Iterator[list[Any]]:
    """The message's recipients in pages of `page_rows`, by id, one read transaction each.

    A send inserts its recipients together, so their ids are (nearly) one run: each page
    walks the primary key from the last id read, bounded by the message's last id. The
    message id is compared as `message_id + 0` so that no planner prefers the
    (message_id, status) index, which would read and sort the whole message for every page.
    The run's ends, the other way round, come from that index: as `id + 0`, or PostgreSQL
    looks for them along the primary key, through every other message's recipients.
    """
    with transaction(session):
        first, last = session.execute(
            select(func.min(Recipient.id + 0), func.max(Recipient.id + 0)).where(
                Recipient.message_id == message_id
            )
        ).one()
    if first is None:
        return
    after = first - 1
    while after < last:
        with transaction(session):
            page = _rows(
                session,
                select(*RECIPIENT_CELLS)
                .where(
                    Recipient.id > after,
                    Recipient.id <= last,
                    (Recipient.message_id + 0) == message_id,
                )
                .order_by(Recipient.id)
                .limit(page_rows),
            )
        if not page:
            return
        yield page
        after = page[-1][0]


# --- the messages of a history listing --------------------------------------------------------


def export_messages(
    session: Session,
    filters: HistoryFilters,
    scope: MessageScope,
    page_rows: int = MESSAGE_PAGE_ROWS,
    today: date | None = None,
) -> CsvExport:
    """Every message the history listing shows for `filters` within `scope`, all its pages,
    newest first; the export is audited now. Page and Next/Previous positions are ignored."""
    day = today or to_hkt(utcnow()).date()  # type: ignore[union-attr]
    whose = scope.describe()
    chosen = urlencode(filters.query_args()) or "none"
    with transaction(session, write=True):
        audit.record(session, "export.messages", f"messages of {whose}", f"filters: {chosen}")
    return CsvExport(
        f"messages-{day.isoformat()}.csv", _message_chunks(session, filters, scope, page_rows)
    )


def _message_chunks(
    session: Session, filters: HistoryFilters, scope: MessageScope, page_rows: int
) -> Iterator[str]:
    yield BOM + csv_text([MESSAGE_COLUMNS])
    for page in message_pages(session, filters, scope, page_rows):
        yield csv_text(message_rows(page))


MESSAGE_CELLS = (
    Message.id,
    Message.created_at,
    User.username,
    Message.status,
    Message.recipient_count,
    Message.sent_count,
    Message.failed_count,
    Message.skipped_count,
    Message.content,
)


def _older_than(created_at: datetime, message_id: int) -> Any:
    """After (created_at, id) in newest-first order, as history's Next link reads on."""
    return and_(
        Message.created_at <= created_at,
        or_(Message.created_at < created_at, Message.id < message_id),
    )


def message_pages(
    session: Session,
    filters: HistoryFilters,
    scope: MessageScope,
    page_rows: int = MESSAGE_PAGE_ROWS,
) -> Iterator[list[Any]]:
    """The messages `filters` match within `scope` (history's own selection, search window
    included), newest first, in pages of `page_rows`, one read transaction each."""
    with transaction(session):
        branches, _ = message_branches(session, filters, scope)
    after: tuple[datetime, int] | None = None
    while True:
        extra = [_older_than(*after)] if after else []
        chosen = matching_ids(branches, *extra, limit=page_rows).subquery()
        query = (
            select(*MESSAGE_CELLS)
            .join(chosen, chosen.c.id == Message.id)
            .outerjoin(User, User.id == Message.user_id)
            .order_by(*NEWEST_FIRST)
        )
        with transaction(session):
            page = _rows(session, query)
        if not page:
            return
        yield page
        if len(page) < page_rows:
            return
        after = (page[-1][1], page[-1][0])

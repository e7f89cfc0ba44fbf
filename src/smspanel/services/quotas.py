"""Monthly segment quotas: what each department has used in the Hong Kong calendar month.

An accept reserves its segments in its own transaction with one conditional UPDATE of the
department's row for the month, so concurrent sends queue on that row and never pass the
quota together; a send that does not fit is refused whole (QuotaExceeded) and rolled back.
Recipients that are never sent (skipped at claim time, cancelled, or cancelled by a
rejection) give their segments back to the month their message was accepted in, from the
one place recipients' counts change (`message_status.adjust_message_counts`), written just
before that transaction commits.

What is charged: a plain send's segments per SMS times the recipients it sends to; a
personalised send, the total of the rows it sends. A personalised recipient given back
returns its message's mean per row (the total over all its rows, rounded down): its own
text's count would need a read of every row given back, and the mean never returns more
than was taken.

Users without a department have no quota and nothing is reserved for them; their month is
counted from their own messages when asked (`month_usage`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Insert,
    Row,
    Select,
    Update,
    bindparam,
    case,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from smspanel.hktime import HKT, to_hkt
from smspanel.models import Department, DepartmentUsage, Message
from smspanel.services.departments import SenderStanding, sender_standing
from smspanel.services.wording import _

WARN_AT_PERCENT = 80  # the pages' banner from this share of the quota on
# From this many segments on, a send reads the month's use before writing its rows: one
# that cannot fit is refused at once, not after 100,000 inserts. A smaller one (the API's
# single SMS, its hottest path) saves the read: rolling back its few rows costs less.
EARLY_READ_FROM = 1_000
MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

_usage = DepartmentUsage.__table__


class QuotaExceeded(PermissionError):
    """The send needs more segments than are left of the department's monthly quota."""

    def __init__(self, used: int, quota: int, needed: int) -> None:
        self.used, self.quota, self.needed = used, quota, needed
        super().__init__(
            _(
                "This send needs %(needed)s SMS segments, but your department has used "
                "%(used)s of its monthly quota of %(quota)s (%(left)s left). Nothing was sent.",
                needed=f"{needed:,}",
                used=f"{used:,}",
                quota=f"{quota:,}",
                left=f"{max(quota - used, 0):,}",
            )
        )

    @property
    def figures(self) -> dict[str, int]:
        return {"used": self.used, "quota": self.quota, "needed": self.needed}


@dataclass(frozen=True)
class Usage:
    """One month's use: a department's, or a user's own when they have none (quota 0)."""

    month: str
    segments_used: int = 0
    quota: int = 0  # 0: none
    messages: int = 0
    recipients: int = 0
    department_id: int | None = None
    department_name: str = ""

    @property
    def left(self) -> int | None:
        return max(self.quota - self.segments_used, 0) if self.quota else None

    @property
    def percent(self) -> int | None:
        """The share of the quota used, in whole percent (rounded down); None without one."""
        return self.segments_used * 100 // self.quota if self.quota else None

    @property
    def warns(self) -> bool:
        percent = self.percent
        return percent is not None and percent >= WARN_AT_PERCENT

    def fits(self, needed: int) -> bool:
        return not self.quota or self.segments_used + needed <= self.quota


def month_of(moment: datetime) -> str:
    """The HKT calendar month of a stored (UTC) instant, as "YYYY-MM"."""
    local = to_hkt(moment)
    assert local is not None
    return local.strftime("%Y-%m")


def parse_month(text: str) -> str | None:
    """A "YYYY-MM" month as typed, or None when it is not one."""
    return text if MONTH_PATTERN.match(text or "") else None


def neighbour_months(month: str) -> tuple[str, str]:
    """The months before and after a "YYYY-MM" month."""
    year, number = int(month[:4]), int(month[5:])
    before = f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"
    after = f"{year + 1}-01" if number == 12 else f"{year}-{number + 1:02d}"
    return before, after


def month_bounds_utc(month: str) -> tuple[datetime, datetime]:
    """The UTC instants at which an HKT calendar month starts and ends (naive, as stored)."""
    year, number = int(month[:4]), int(month[5:])
    start = datetime(year, number, 1, tzinfo=HKT)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=HKT)
    return (
        start.astimezone(UTC).replace(tzinfo=None),
        end.astimezone(UTC).replace(tzinfo=None),
    )


def segments_needed(segments: int, recipients: int, *, personalised: bool) -> int:
    """What a send is charged: per SMS times recipients, or a personalised send's total."""
    return segments if personalised else segments * recipients


# --- the accept -------------------------------------------------------------------------------


def check(session: Session, standing: SenderStanding, needed: int, now: datetime) -> None:
    """A read before a large send's inserts (EARLY_READ_FROM), so one that cannot fit is
    refused at once; `reserve` decides, under the row's lock."""
    quota = standing.monthly_segment_quota
    if standing.department_id is None or not quota or needed < EARLY_READ_FROM:
        return
    used = _used(session, standing.department_id, month_of(now))
    if used + needed > quota:
        raise QuotaExceeded(used, quota, needed)


def reserve(
    session: Session, standing: SenderStanding, needed: int, recipients: int, now: datetime
) -> None:
    """Add the send to its department's month, inside the accept's transaction; refuse it
    (QuotaExceeded) if that would pass the quota. Kept near the end of the accept: the row's
    lock then lasts only until the commit, not through the inserts."""
    department_id = standing.department_id
    if department_id is None:
        return
    quota = standing.monthly_segment_quota
    month = month_of(now)
    params = {"d": department_id, "m": month, "n": needed, "r": recipients, "quota": quota}
    statement = _RESERVE_WITHIN_QUOTA if quota else _RESERVE
    if _rowcount(session.execute(statement, params)) == 1:
        return
    # No row for the month yet, or the quota is reached: make sure the row is there (which
    # also takes its lock on MySQL), then ask again.
    _ensure_row(session, department_id, month)
    if _rowcount(session.execute(statement, params)) == 1:
        return
    raise QuotaExceeded(_used(session, department_id, month), quota, needed)


def _reserve_statement(within_quota: bool) -> Update:
    statement = update(_usage).where(
        _usage.c.department_id == bindparam("d"), _usage.c.month == bindparam("m")
    )
    if within_quota:
        statement = statement.where(_usage.c.segments_used + bindparam("n") <= bindparam("quota"))
    return statement.values(
        segments_used=_usage.c.segments_used + bindparam("n"),
        message_count=_usage.c.message_count + 1,
        recipient_count=_usage.c.recipient_count + bindparam("r"),
    )


_RESERVE = _reserve_statement(within_quota=False)
_RESERVE_WITHIN_QUOTA = _reserve_statement(within_quota=True)


def _ensure_row(session: Session, department_id: int, month: str) -> None:
    """Insert the month's row unless it is there: whichever of concurrent first sends
    inserts it, the others find it."""
    values = {"department_id": department_id, "month": month}
    dialect = session.get_bind().dialect.name
    statement: Insert
    if dialect == "postgresql":
        statement = postgresql_insert(_usage).values(values).on_conflict_do_nothing()
    elif dialect in ("mysql", "mariadb"):
        # Not INSERT IGNORE: on a duplicate that takes a shared lock, and two sends holding
        # it would deadlock on their UPDATEs. This takes the row's exclusive lock.
        statement = (
            mysql_insert(_usage)
            .values(values)
            .on_duplicate_key_update(department_id=_usage.c.department_id)
        )
    elif dialect == "sqlite":
        statement = sqlite_insert(_usage).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - the three databases above are the supported ones
        statement = insert(_usage).values(values)
    session.execute(statement)


def _used(session: Session, department_id: int, month: str) -> int:
    used = session.scalar(
        select(_usage.c.segments_used).where(
            _usage.c.department_id == department_id, _usage.c.month == month
        )
    )
    return int(used or 0)


def _rowcount(result: object) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- giving back ------------------------------------------------------------------------------

_GIVEN_BACK = "smspanel.quota_given_back"  # session.info: (department, month) -> totals


def give_back(session: Session, returned: Mapping[int, int]) -> None:
    """Give back the segments of recipients that will never be sent: `returned` maps a
    message id to how many of its recipients just became skipped or cancelled.

    The usage rows are written just before the transaction commits (`_write_given_back`),
    in (department, month) order: a use case that goes on to lock message rows (a claim
    cancels, then skips, then starts messages) then never holds a department's row while
    it waits, so it cannot deadlock with another giving back to the same month."""
    ids = sorted(mid for mid, count in returned.items() if count > 0)
    if not ids:
        return
    rows = session.execute(
        select(
            Message.id,
            Message.department_id,
            Message.created_at,
            Message.segments,
            Message.personalised,
            Message.recipient_count,
        ).where(Message.id.in_(ids), Message.department_id.is_not(None))
    ).all()
    if not rows:
        return
    pending: dict[tuple[int, str], list[int]] = session.info.setdefault(_GIVEN_BACK, {})
    for row in rows:
        count = returned[row.id]
        if row.personalised:
            segments = row.segments * count // max(row.recipient_count, 1)
        else:
            segments = row.segments * count
        totals = pending.setdefault((row.department_id, month_of(row.created_at)), [0, 0])
        totals[0] += segments
        totals[1] += count


@event.listens_for(Session, "before_commit")
def _write_given_back(session: Session) -> None:
    pending = session.info.pop(_GIVEN_BACK, None)
    if pending:
        session.execute(
            _GIVE_BACK_STATEMENT,
            [
                {"d": department_id, "m": month, "n": segments, "r": count}
                for (department_id, month), (segments, count) in sorted(pending.items())
            ],
        )


@event.listens_for(Session, "after_rollback")
def _forget_given_back(session: Session) -> None:
    session.info.pop(_GIVEN_BACK, None)


def _give_back_statement() -> Update:
    def less(column: Any, amount: Any) -> Any:
        # Never below zero (a month's row made after some of its sends, say).
        return case((column > amount, column - amount), else_=0)

    return (
        update(_usage)
        .where(_usage.c.department_id == bindparam("d"), _usage.c.month == bindparam("m"))
        .values(
            segments_used=less(_usage.c.segments_used, bindparam("n")),
            recipient_count=less(_usage.c.recipient_count, bindparam("r")),
        )
    )


_GIVE_BACK_STATEMENT = _give_back_statement()


# --- reading ----------------------------------------------------------------------------------


def month_usage(session: Session, user_id: int, now: datetime) -> Usage:
    """This month's use as the user answers for it: their department's, or their own."""
    used = department_usage(session, user_id, now)
    return used if used is not None else _own_usage(session, user_id, month_of(now))


def department_usage(session: Session, user_id: int, now: datetime) -> Usage | None:
    """The month's use of the user's department (what the pages show); None without one."""
    standing = sender_standing(session, user_id)
    if standing.department_id is None:
        return None
    month = month_of(now)
    row = session.execute(
        _departments_month(month).where(Department.id == standing.department_id)
    ).one()
    return _department_usage(row, month)


def _own_usage(session: Session, user_id: int, month: str) -> Usage:
    """Counted from the user's messages of the month (one indexed range): the recipients
    sent or still to be sent, and their segments (a personalised message's total as
    accepted)."""
    start, end = month_bounds_utc(month)
    kept = Message.recipient_count - Message.skipped_count - Message.cancelled_count
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(kept), 0),
            func.coalesce(
                func.sum(
                    case((Message.personalised, Message.segments), else_=Message.segments * kept)
                ),
                0,
            ),
        ).where(Message.user_id == user_id, Message.created_at >= start, Message.created_at < end)
    ).one()
    return Usage(
        month=month, messages=int(row[0]), recipients=int(row[1]), segments_used=int(row[2])
    )


def departments_usage(session: Session, month: str) -> list[Usage]:
    """Every department's use in `month`, by name (the admins' page)."""
    rows = session.execute(_departments_month(month).order_by(Department.name)).all()
    return [_department_usage(row, month) for row in rows]


def _departments_month(month: str) -> Select[Any]:
    """Departments with their row of `month`'s use, if it has one."""
    return select(
        Department.id,
        Department.name,
        Department.monthly_segment_quota,
        _usage.c.segments_used,
        _usage.c.message_count,
        _usage.c.recipient_count,
    ).outerjoin(_usage, (_usage.c.department_id == Department.id) & (_usage.c.month == month))


def _department_usage(row: Row[Any], month: str) -> Usage:
    return Usage(
        month=month,
        segments_used=int(row.segments_used or 0),
        quota=int(row.monthly_segment_quota or 0),
        messages=int(row.message_count or 0),
        recipients=int(row.recipient_count or 0),
        department_id=row.id,
        department_name=row.name,
    )

"""The order the queue is claimed in: the urgent lane before the normal one, and within a
lane, messages interleaved by turn so a small send never waits behind a large one.

Each recipient has a lane (`Recipient.priority`: 0 urgent, 1 normal) and a `turn`. A send
that is due now numbers its recipients from the head of its lane (the smallest turn still
waiting there): its first recipient shares the head's turn, its second the next, so it goes
one-for-one with every message already queued, and a single SMS is claimed within a turn or
two whatever is ahead of it. Claims take due rows by (lane, turn, due time, id), through
`ix_recipients_claim_order`, which holds every column the claim reads.

A row that is not due waits outside its lane, in a later range of turns (from `LATER` on),
numbered by the second it is due: a scheduled send and one held for approval (with their
positions), a claimed row until its lease ends, a retry until its time. So the lanes hold
only rows that are due, no claim reads past rows it cannot take, and the head is where the
claims are. The claim brings rows whose second has come back to the head of their lane
(`bring_forward_due`), at most `BRING_FORWARD_AT_ONCE` at a time so no claim holds its
transaction long: a scheduled send then takes turns with what is queued at its time, and a
lapsed lease or a retry goes first again. Whatever sets a pending row's due time afterwards
(approving a held send) sets `turn_when_due` with it. A due row found in the later range
beyond that (a due time moved without it) is claimed after the lanes, oldest due first, so
nothing due is ever left behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Subquery,
    bindparam,
    func,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from smspanel.models import Priority, Recipient, RecipientStatus
from smspanel.services.transactions import locks_rows

URGENT_LANE = 0
NORMAL_LANE = 1
LANES = (URGENT_LANE, NORMAL_LANE)
# A send's recipients are numbered within it, below this (a send has at most 100,000).
POSITIONS = 2**20
# Turns from here on belong to rows not yet due: LATER + due second * POSITIONS + position.
# The year 9999 (HELD_UNTIL) still fits below 2**63.
LATER = 2**62
BRING_FORWARD_AT_ONCE = 2_000


def lane_of(priority: str) -> int:
    return URGENT_LANE if priority == Priority.URGENT else NORMAL_LANE


def later_turn(due: datetime) -> int:
    """The first turn of rows due at `due`, in the later range."""
    return LATER + int(due.timestamp()) * POSITIONS


def first_turn(session: Session, lane: int, due: datetime, now: datetime) -> int:
    """Where a new send's turns start: at the head of its lane when it is due now, else in
    the later range at its due second (each recipient adds its position to it)."""
    if due > now:
        return later_turn(due)
    return head_of_lane(session, lane)


# Built once, in Core, with parameters: claims run many times a second, and building an
# ORM statement each time cost more than reading its rows. 'pending' and the lanes are
# written into the SQL, not bound: SQLite can use the recipients' queue indexes, which hold
# only pending rows there, only for a query that says so.
_recipients = Recipient.__table__
_r = _recipients.c
_PENDING = _r.status == literal_column(f"'{RecipientStatus.PENDING}'")
_IN_A_LANE = _r.priority.in_([literal_column(str(lane)) for lane in LANES])
_NOW = bindparam("now", type_=_r.next_attempt_at.type)
_LIMIT = bindparam("limit", type_=Integer())

# Is anything due? An idle dispatcher's look for work, through the due index.
ANYTHING_DUE = select(_r.id).where(_PENDING, _r.next_attempt_at <= _NOW).limit(1)
QUEUED = select(func.count()).select_from(_recipients).where(_PENDING)

HEAD_OF_LANE = (
    select(_r.turn)
    .where(_PENDING, _r.priority == bindparam("lane"), _r.turn < LATER)
    .order_by(_r.turn)
    .limit(1)
)
# Both lanes in one statement: two bounded ranges of the index read in order on SQLite and
# MariaDB; on PostgreSQL one ordered scan that skips the later range inside the index.
DUE_IN_CLAIM_ORDER = (
    select(_r.id)
    .where(_PENDING, _IN_A_LANE, _r.turn < LATER, _r.next_attempt_at <= _NOW)
    .order_by(_r.priority, _r.turn, _r.next_attempt_at, _r.id)
    .limit(_LIMIT)
)


# Rows whose second has come, by their turn alone (checking the due time as well gave the
# planner a reason to read the due index instead): one due later in the same second only
# waits at the head of its lane, where no claim takes it early. One bounded range per lane,
# so no database reads anything but the rows it returns.
def _come_due_in(lane: int) -> Subquery:
    return (
        select(_r.id, _r.priority)
        .where(
            _PENDING,
            _r.priority == literal_column(str(lane)),
            _r.turn >= LATER,
            _r.turn < bindparam("due_by_turn", type_=BigInteger()),
        )
        .limit(_LIMIT)
        .subquery()
    )


COME_DUE_IN_LATER_RANGE = union_all(*(select(*_come_due_in(lane).c) for lane in LANES))


# The servers lock the rows a claim picks, skipping those another claim holds.
DUE_IN_CLAIM_ORDER_LOCKING = DUE_IN_CLAIM_ORDER.with_for_update(skip_locked=True)


def head_of_lane(session: Session, lane: int) -> int:
    """The smallest turn still pending in the lane (0 when it is empty): one index seek."""
    return session.scalar(HEAD_OF_LANE, {"lane": lane}) or 0


def turn_when_due(due: datetime) -> ColumnElement[int]:
    """The turn a pending row gets when its due time is set to `due` after it was stored
    (an approval): in the later range at that second, keeping its position, so the next
    claim from then on brings it forward like any scheduled row."""
    return later_turn(due) + Recipient.turn % POSITIONS


def due_in_claim_order(session: Session, now: datetime, limit: int) -> list[int]:
    """Up to `limit` due rows, locked on the servers: the urgent lane, then the normal one,
    each by turn; then any due row left in the later range."""
    locking = locks_rows(session)
    lanes = DUE_IN_CLAIM_ORDER_LOCKING if locking else DUE_IN_CLAIM_ORDER
    ids = list(session.scalars(lanes, {"now": now, "limit": limit}))
    if len(ids) < limit:
        left_over = due_out_of_turn(now, limit - len(ids), ids)
        ids += session.scalars(
            left_over.with_for_update(skip_locked=True) if locking else left_over
        )
    return ids


def due_out_of_turn(now: datetime, limit: int, taken: Sequence[int]) -> Select[int]:
    """Due rows still in the later range, oldest due first (see the module's docstring):
    only when the lanes had too few, so it reads no more than the due rows."""
    query = select(_r.id).where(_PENDING, _r.next_attempt_at <= now, _r.turn >= LATER)
    if taken:
        query = query.where(_r.id.not_in(list(taken)))
    return query.order_by(_r.next_attempt_at, _r.turn, _r.id).limit(limit)


def bring_forward_due(session: Session, now: datetime) -> int:
    """Give rows of the later range whose second has come a turn at the head of their lane,
    keeping their position, at most BRING_FORWARD_AT_ONCE; inside the claim's transaction.
    The look takes no lock: of two claims bringing the same rows forward at once, the second
    update finds them moved (it re-reads each row it waited for) and leaves them. Returns
    how many it looked at."""
    rows = session.execute(
        COME_DUE_IN_LATER_RANGE,
        {"due_by_turn": later_turn(now) + POSITIONS, "limit": BRING_FORWARD_AT_ONCE},
    ).all()
    for lane in sorted({row.priority for row in rows}):
        ids = [row.id for row in rows if row.priority == lane]
        session.execute(
            update(_recipients)
            .where(_r.id.in_(ids), _PENDING, _r.turn >= LATER)
            .values(turn=head_of_lane(session, lane) + _r.turn % POSITIONS)
        )
    return len(rows)

"""Accepting a send: validate everything, then write the message and its recipients at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, insert, literal, literal_column, update
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from smspanel.hktime import format_hkt
from smspanel.models import (
    Message,
    MessageStatus,
    MessageTally,
    Recipient,
    RecipientStatus,
    utcnow,
)
from smspanel.services import audit
from smspanel.services.content import count_segments, validate_content
from smspanel.services.doorbell import ring_after_commit
from smspanel.services.personalisation import PersonalisedRow
from smspanel.services.phone import NoRecipients, parse_recipients
from smspanel.services.transactions import transaction

MAX_RECIPIENTS_PER_SEND = 100_000


_tallies = MessageTally.__table__
# Built once, in Core like the inserts: one more message for the sender's tally.
_COUNT_ONE_MORE = (
    update(_tallies)
    .where(_tallies.c.user_id == bindparam("sender"))
    .values(message_count=_tallies.c.message_count + 1)
)


class TooManyRecipients(ValueError):
    pass


@dataclass(frozen=True)
class AcceptedSend:
    """What the caller tells the sender: the new message as it was queued."""

    id: int
    status: str
    recipient_count: int
    segments: int
    created_at: datetime
    scheduled_at: datetime | None = None


def accept_send(
    session: Session,
    user_id: int | None,
    recipients: Sequence[str],
    content: str,
    scheduled_at: datetime | None = None,
) -> AcceptedSend:
    """Queue one message for every distinct number; refuse the whole send on any bad input."""
    content = validate_content(content)
    _check_size(len(recipients))
    phones = parse_recipients(recipients)
    return _store(
        session,
        user_id,
        content,
        [(phone, None) for phone in phones],
        segments=count_segments(content),
        scheduled_at=scheduled_at,
    )


def accept_personalised_send(
    session: Session,
    user_id: int | None,
    template_id: int,
    template_content: str,
    rows: Sequence[PersonalisedRow],
    scheduled_at: datetime | None = None,
    source_digest: str | None = None,
) -> AcceptedSend:
    """Queue rows already checked by `personalisation.check_rows`, each with its own text.

    The message keeps the template's text; its `segments` is the total over all rows.
    """
    if not rows:
        raise NoRecipients("no row is left to send to")
    _check_size(len(rows))
    return _store(
        session,
        user_id,
        template_content,
        [(row.phone, row.text) for row in rows],
        segments=sum(row.segments for row in rows),
        scheduled_at=scheduled_at,
        personalised=True,
        template_id=template_id,
        source_digest=source_digest,
    )


def _check_size(count: int) -> None:
    if count > MAX_RECIPIENTS_PER_SEND:
        raise TooManyRecipients(f"{count} recipients; at most {MAX_RECIPIENTS_PER_SEND} per send")


def _store(
    session: Session,
    user_id: int | None,
    content: str,
    recipients: Sequence[tuple[str, str | None]],
    *,
    segments: int,
    scheduled_at: datetime | None,
    personalised: bool = False,
    template_id: int | None = None,
    source_digest: str | None = None,
) -> AcceptedSend:
    """One short transaction, set-based: the recipients go in as a multi-row insert, the
    sender's message tally goes up by one with them, and the request never waits on the
    gateway. A scheduled message's recipients come due at its time."""
    now = utcnow()
    accepted = AcceptedSend(
        id=0,
        status=MessageStatus.SCHEDULED if scheduled_at else MessageStatus.PENDING,
        recipient_count=len(recipients),
        segments=segments,
        created_at=now,
        scheduled_at=scheduled_at,
    )
    due = scheduled_at or now
    with transaction(session):
        # Core inserts, not the unit of work: a single SMS is the API's hottest path, and
        # nothing here needs identity tracking or a reload after commit.
        result = session.execute(
            insert(Message.__table__),
            {
                "user_id": user_id,
                "content": content,
                "segments": accepted.segments,
                "status": accepted.status,
                "recipient_count": accepted.recipient_count,
                "sent_count": 0,
                "failed_count": 0,
                "skipped_count": 0,
                "cancelled_count": 0,
                "created_at": now,
                "scheduled_at": scheduled_at,
                "personalised": personalised,
                "template_id": template_id,
                "source_digest": source_digest,
            },
        )
        accepted = replace(accepted, id=result.inserted_primary_key[0])  # type: ignore[attr-defined]
        _insert_recipients(
            session,
            {
                "message_id": accepted.id,
                "status": RecipientStatus.PENDING,
                "attempts": 0,
                "maybe_duplicate": False,
                "next_attempt_at": due,
                "updated_at": now,
            },
            [{"phone": phone, "content": text} for phone, text in recipients],
        )
        when = f", scheduled for {format_hkt(scheduled_at)}" if scheduled_at else ""
        audit.record(
            session,
            "sms.send",
            f"message:{accepted.id}",
            f"{len(recipients)} recipient(s), {accepted.segments} segment(s){when}",
        )
        if user_id is not None:
            # Last, so the tally's row lock is held only for the commit, not for the inserts:
            # concurrent sends by one user queue on it briefly and cannot deadlock.
            session.execute(_COUNT_ONE_MORE, {"sender": user_id})
        if scheduled_at is None:
            ring_after_commit(session)
    return accepted


# From this many rows on, what every row shares is written into the statement once: as
# parameters of each row the same datetimes were converted 100,000 times, a third of a large
# send's cost. Below it, compiling a statement of its own costs more than it saves (a single
# SMS, the API's hottest path, took 70% longer), so small sends use the cached statement.
SHARED_VALUES_IN_STATEMENT_FROM = 500


def _insert_recipients(
    session: Session, shared: dict[str, Any], rows: list[dict[str, Any]]
) -> None:
    table = Recipient.__table__
    if len(rows) < SHARED_VALUES_IN_STATEMENT_FROM:
        session.execute(insert(table), [{**shared, **row} for row in rows])
        return
    session.execute(
        insert(table).values(
            {name: _literal(session, value, table.c[name].type) for name, value in shared.items()}
        ),
        rows,
        # A statement made for this send alone: kept out of the compiled-statement cache.
        execution_options={"compiled_cache": None},
    )


def _literal(session: Session, value: object, type_: TypeEngine[Any]) -> ColumnElement[Any]:
    """`value` rendered by the dialect as a literal of its column's type (from our own
    values, never from anything a user typed)."""
    rendered = literal(value, type_).compile(
        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
    )
    return literal_column(str(rendered), type_)

"""Accepting a send: validate everything, then write the message and its recipients at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

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
from smspanel.services.phone import parse_recipients
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


def accept_send(
    session: Session, user_id: int | None, recipients: Sequence[str], content: str
) -> AcceptedSend:
    """Queue one message for every distinct number; refuse the whole send on any bad input.

    One short transaction, set-based: the recipients go in as a multi-row insert, the
    sender's message tally goes up by one with them, and the request never waits on the
    gateway.
    """
    content = validate_content(content)
    if len(recipients) > MAX_RECIPIENTS_PER_SEND:
        raise TooManyRecipients(
            f"{len(recipients)} recipients; at most {MAX_RECIPIENTS_PER_SEND} per send"
        )
    phones = parse_recipients(recipients)
    now = utcnow()
    accepted = AcceptedSend(
        id=0,
        status=MessageStatus.PENDING,
        recipient_count=len(phones),
        segments=count_segments(content),
        created_at=now,
    )
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
                "created_at": now,
            },
        )
        accepted = replace(accepted, id=result.inserted_primary_key[0])  # type: ignore[attr-defined]
        session.execute(
            insert(Recipient.__table__),
            [
                {
                    "message_id": accepted.id,
                    "phone": phone,
                    "status": RecipientStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "maybe_duplicate": False,
                    "updated_at": now,
                }
                for phone in phones
            ],
        )
        audit.record(
            session,
            "sms.send",
            f"message:{accepted.id}",
            f"{len(phones)} recipient(s), {accepted.segments} segment(s)",
        )
        if user_id is not None:
            # Last, so the tally's row lock is held only for the commit, not for the inserts:
            # concurrent sends by one user queue on it briefly and cannot deadlock.
            session.execute(_COUNT_ONE_MORE, {"sender": user_id})
        ring_after_commit(session)
    return accepted

"""Accepting a send: validate everything, then write the message and its recipients at once."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.orm import Session

from smspanel.models import Message, MessageStatus, Recipient, RecipientStatus, utcnow
from smspanel.services import audit
from smspanel.services.content import count_segments, validate_content
from smspanel.services.phone import parse_recipients
from smspanel.services.queue import work_available

MAX_RECIPIENTS_PER_SEND = 100_000


class TooManyRecipients(ValueError):
    pass


def accept_send(
    session: Session, user_id: int | None, recipients: Sequence[str], content: str
) -> Message:
    """Queue one message for every distinct number; refuse the whole send on any bad input.

    One short transaction, set-based: the recipients go in as a multi-row insert, and the
    request never waits on the gateway.
    """
    content = validate_content(content)
    if len(recipients) > MAX_RECIPIENTS_PER_SEND:
        raise TooManyRecipients(
            f"{len(recipients)} recipients; at most {MAX_RECIPIENTS_PER_SEND} per send"
        )
    phones = parse_recipients(recipients)
    now = utcnow()
    message = Message(
        user_id=user_id,
        content=content,
        segments=count_segments(content),
        status=MessageStatus.PENDING,
        recipient_count=len(phones),
        sent_count=0,
        failed_count=0,
        created_at=now,
    )
    try:
        session.add(message)
        session.flush()
        session.execute(
            insert(Recipient.__table__),
            [
                {
                    "message_id": message.id,
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
            f"message:{message.id}",
            f"{len(phones)} recipient(s), {message.segments} segment(s)",
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    work_available.set()
    return message

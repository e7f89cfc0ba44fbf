"""What the tests of personalised, scheduled and cancelled sends share: templates made
directly in the database, moving a schedule into the past, and the count invariant."""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from smspanel.models import Message, Recipient, Template, utcnow
from smspanel.services.delivery.queue_order import turn_when_due


def make_template(session: Session, content: str, name: str | None = None) -> int:
    """A template row as the templates service would store it; its id."""
    template = Template(name=name or f"template {secrets.token_hex(4)}", content=content)
    session.add(template)
    session.commit()
    return template.id


def bring_forward(session: Session, message_id: int, ago: timedelta = timedelta(0)) -> datetime:
    """Make a scheduled message due `ago` in the past, as if its time had come (the clock
    cannot be moved in another process), at the turn its new time gives it; its new
    scheduled time."""
    at = utcnow() - ago
    session.execute(update(Message).where(Message.id == message_id).values(scheduled_at=at))
    session.execute(
        update(Recipient)
        .where(Recipient.message_id == message_id, Recipient.claimed_by.is_(None))
        .values(next_attempt_at=at, turn=turn_when_due(at))
    )
    session.commit()
    return at


def lapse_leases(session: Session, message_id: int) -> None:
    """As if the dispatchers holding this message's recipients had died a minute ago: their
    rows then come due before any row stored since, whatever the time the test took."""
    lapsed = utcnow() - timedelta(minutes=1)
    session.execute(
        update(Recipient)
        .where(Recipient.message_id == message_id, Recipient.claimed_by.is_not(None))
        .values(next_attempt_at=lapsed, turn=turn_when_due(lapsed))
    )
    session.commit()


def recipient_statuses(session: Session, message_id: int) -> Counter[str]:
    rows = session.execute(
        select(Recipient.status, func.count())
        .where(Recipient.message_id == message_id)
        .group_by(Recipient.status)
    ).all()
    return Counter({status: count for status, count in rows})


def assert_counts_add_up(session: Session, message_id: int) -> Message:
    """The message's counters agree with its recipients' rows, and add up to the total."""
    session.expire_all()
    message = session.get(Message, message_id)
    assert message is not None
    rows = recipient_statuses(session, message_id)
    counted = {
        "sent": message.sent_count,
        "failed": message.failed_count,
        "cancelled": message.cancelled_count,
        "pending": message.pending_count,
    }
    assert counted == {status: rows.get(status, 0) for status in counted}, (counted, rows)
    assert message.recipient_count == (
        message.sent_count
        + message.failed_count
        + message.pending_count
        + message.skipped_count
        + message.cancelled_count
    )
    return message

"""Cancelling a message: whole while scheduled, or what is left of it while it is sent.

A cancel first marks the message (`cancelled_at`) in a transaction of its own, short
however large the message, so that sending stops at once: from then on a claim cancels
the message's recipients it takes instead of returning them, and dispatchers holding some
notice within `CANCEL_CHECK_SECONDS` and hand back those not yet sent, which become
`cancelled`; requests already on the wire finish and are recorded as usual. Then every
recipient no dispatcher holds becomes `cancelled`, with the counts, in one statement (the
long part: 100,000 rows take about a second). The cancel answers once no recipient is held
any more (or after `CANCEL_WAIT_SECONDS`), so nothing is sent after it answers beyond
what was already on the wire. Recipients that come back to the queue later (a retry, a
lapsed lease, or any the second step did not get to) are cancelled when claimed.

Locks: every use case that changes recipients and their message's counts locks the
recipient rows first and the message row after (claims, results, dead-letter retries, and
the cancels here), so a cancel racing dispatchers waits on them but never deadlocks them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from smspanel.models import (
    FINAL_MESSAGE_STATUSES,
    Message,
    Recipient,
    RecipientStatus,
    utcnow,
)
from smspanel.services import audit
from smspanel.services.message_status import CountChange, adjust_message_counts
from smspanel.services.transactions import locks_rows, transaction, with_conflict_retry
from smspanel.services.webhooks import outbox
from smspanel.services.wording import _, status_label

CANCEL_CHECK_SECONDS = 0.1  # how often a busy dispatcher looks for cancels of what it holds
CANCEL_WAIT_SECONDS = 1.0


class NotCancellable(ValueError):
    """The message is final: nothing is left to cancel."""


@dataclass(frozen=True)
class CancelResult:
    id: int
    status: str
    cancelled_count: int


def is_cancellable(message: Message) -> bool:
    return message.status not in FINAL_MESSAGE_STATUSES and message.cancelled_at is None


def cancel_message(
    session: Session, message_id: int, wait_seconds: float = CANCEL_WAIT_SECONDS
) -> CancelResult:
    """Stop every recipient of the message not yet handed to the gateway.

    The caller has checked that the user may see the message (ownership.find_message).
    """
    with_conflict_retry(session, lambda: _mark_cancelled(session, message_id))
    with_conflict_retry(session, lambda: _cancel_unheld(session, message_id))
    _wait_until_released(session, message_id, wait_seconds)
    with transaction(session):
        row = session.execute(
            select(Message.status, Message.cancelled_count).where(Message.id == message_id)
        ).one()
    return CancelResult(message_id, row.status, row.cancelled_count)


def _mark_cancelled(session: Session, message_id: int) -> None:
    """The message's row alone: no dispatcher waits on this for long, nor it on them."""
    with transaction(session, write=True):
        query = select(Message).where(Message.id == message_id)
        if locks_rows(session):
            query = query.with_for_update()
        # Read again under the lock: the caller's copy may be from before another's cancel.
        message = session.scalars(query.execution_options(populate_existing=True)).one()
        if not is_cancellable(message):
            raise NotCancellable(
                _(
                    "message %(id)s is %(status)s: nothing is left to cancel",
                    id=message_id,
                    status=status_label(message.status).lower(),
                )
            )
        message.cancelled_at = utcnow()
        audit.record(
            session,
            "sms.cancel",
            f"message:{message_id}",
            f"{message.pending_count} of {message.recipient_count} recipient(s) not yet sent",
        )


def _cancel_unheld(session: Session, message_id: int) -> int:
    with transaction(session, write=True):
        now = utcnow()
        stopped: int = session.execute(
            update(Recipient)
            .where(
                Recipient.message_id == message_id,
                Recipient.status == RecipientStatus.PENDING,
                # Not held by a dispatcher, or held under a lease that ran out.
                or_(Recipient.claimed_by.is_(None), Recipient.next_attempt_at <= now),
            )
            .values(_cancelled_values(now)),
            execution_options={"synchronize_session": False},
        ).rowcount  # type: ignore[attr-defined]
        if stopped:
            adjust_message_counts(session, {message_id: CountChange(cancelled=stopped)}, now)
            outbox.recipients_final_where(session, message_id, RecipientStatus.CANCELLED, now)
        return stopped


def _cancelled_values(now: datetime) -> dict[str, object]:
    """What a recipient becomes when a cancel stops it."""
    return {
        "status": RecipientStatus.CANCELLED,
        "claimed_by": None,
        "claimed_at": None,
        "updated_at": now,
    }


def _wait_until_released(session: Session, message_id: int, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        with transaction(session):
            held = session.scalar(
                select(func.count())
                .select_from(Recipient)
                .where(
                    Recipient.message_id == message_id,
                    Recipient.status == RecipientStatus.PENDING,
                    Recipient.claimed_by.is_not(None),
                    Recipient.next_attempt_at > utcnow(),
                )
            )
        if not held:
            return
        time.sleep(0.02)


def cancelled_among(session: Session, message_ids: Sequence[int]) -> set[int]:
    """Which of these messages a cancel has marked (a dispatcher's check on what it holds)."""
    if not message_ids:
        return set()
    with transaction(session):
        return set(
            session.scalars(
                select(Message.id).where(
                    Message.id.in_(sorted(set(message_ids))), Message.cancelled_at.is_not(None)
                )
            )
        )


def cancel_held_recipients(
    session: Session, worker_id: str, recipients: Sequence[tuple[int, int]]
) -> int:
    """A dispatcher's unsent (recipient id, message id) pairs of cancelled messages."""
    if not recipients:
        return 0
    with transaction(session, write=True):
        return cancel_claimed_in_transaction(session, worker_id, recipients)


def cancel_claimed_in_transaction(
    session: Session, worker_id: str, recipients: Sequence[tuple[int, int]]
) -> int:
    """Cancel those of these recipients the worker still holds, with their messages' counts."""
    query = select(Recipient.id, Recipient.message_id).where(
        Recipient.id.in_(sorted(rid for rid, _ in recipients)),
        Recipient.claimed_by == worker_id,
        Recipient.status == RecipientStatus.PENDING,
    )
    if locks_rows(session):
        query = query.with_for_update()
    held = session.execute(query).all()
    if not held:
        return 0
    now = utcnow()
    session.execute(
        update(Recipient)
        .where(Recipient.id.in_([r.id for r in held]))
        .values(_cancelled_values(now)),
        execution_options={"synchronize_session": False},
    )
    per_message = Counter(r.message_id for r in held)
    cancelled: dict[int, list[int]] = {}
    for r in held:
        cancelled.setdefault(r.message_id, []).append(r.id)
    outbox.recipients_final(session, cancelled)
    adjust_message_counts(
        session, {mid: CountChange(cancelled=n) for mid, n in per_message.items()}, now
    )
    return len(held)

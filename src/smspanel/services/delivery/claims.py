"""The queue: recipient rows are the jobs, claimed under a lease and handed back unstarted.

Claim: due rows (`status='pending' AND next_attempt_at <= now`) are locked with
`FOR UPDATE SKIP LOCKED` on PostgreSQL and MariaDB/MySQL, or under SQLite's single writer
(`BEGIN IMMEDIATE`), and stamped with the dispatcher's id. While claimed, `next_attempt_at`
holds the lease's end, so a crashed dispatcher's rows simply come due again. A claimed row
whose number is now on a register its message respects (`eligibility.py`) is skipped
instead of sent. Finishing (`outcomes.py`) only touches rows still claimed by the same
dispatcher. Every transaction here is short; the HTTP call to the gateway happens outside
all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from smspanel.models import Message, MessageStatus, Recipient, RecipientStatus, utcnow
from smspanel.services.cancelling import cancel_claimed_in_transaction
from smspanel.services.delivery.queue_order import (
    ANYTHING_DUE,
    QUEUED,
    bring_forward_due,
    due_in_claim_order,
    later_turn,
)
from smspanel.services.eligibility import register_skip_reason, skip_claimed_in_transaction
from smspanel.services.transactions import begin_write, transaction


@dataclass(frozen=True)
class ClaimedRecipient:
    id: int
    message_id: int
    phone: str
    content: str
    attempts: int
    maybe_duplicate: bool


def claim_due_recipients(
    session: Session, worker_id: str, limit: int, lease_seconds: float
) -> list[ClaimedRecipient]:
    """Claim up to `limit` due recipients for `worker_id` in claim order (urgent first, then
    messages interleaved by turn: queue_order.py), in one transaction."""
    now = utcnow()
    with transaction(session):
        # A read first: an idle dispatcher's look for work takes no write lock.
        if session.scalar(ANYTHING_DUE, {"now": now}) is None:
            return []
        begin_write(session)
        bring_forward_due(session, now)
        ids = due_in_claim_order(session, now, limit)
        if not ids:
            return []
        lease_end = now + timedelta(seconds=lease_seconds)
        session.execute(
            update(Recipient)
            .where(Recipient.id.in_(ids))
            .values(
                claimed_by=worker_id,
                claimed_at=now,
                next_attempt_at=lease_end,
                # Out of the lane while claimed: no claim reads past it, and should the lease
                # run out it comes back at the head of its lane (queue_order.py).
                turn=later_turn(lease_end),
            ),
            execution_options={"synchronize_session": False},
        )
        rows = session.execute(
            select(
                Recipient.id,
                Recipient.message_id,
                Recipient.phone,
                Recipient.attempts,
                Recipient.maybe_duplicate,
                func.coalesce(Recipient.content, Message.content).label("content"),
                Message.status.label("message_status"),
                Message.cancelled_at,
                register_skip_reason(Recipient.phone, Message.commercial).label("skip_reason"),
            )
            .join(Message, Message.id == Recipient.message_id)
            .where(Recipient.id.in_(ids))
            .order_by(Recipient.id)
        ).all()
        # Back in the queue after their message was cancelled (a retry, a lapsed lease).
        stopped = [(r.id, r.message_id) for r in rows if r.cancelled_at is not None]
        if stopped:
            cancel_claimed_in_transaction(session, worker_id, stopped)
        # Opted out (or, for a commercial message, put on the do-not-call register) since the
        # send was accepted: skipped, never sent.
        sending = [r for r in rows if r.cancelled_at is None and r.skip_reason is None]
        skipped = [
            (r.id, r.message_id, r.skip_reason)
            for r in rows
            if r.cancelled_at is None and r.skip_reason is not None
        ]
        if skipped:
            skip_claimed_in_transaction(session, worker_id, skipped, now)
        starting = sorted(
            {r.message_id for r in sending if r.message_status == MessageStatus.SCHEDULED}
        )
        if starting:
            session.execute(
                update(Message)
                .where(Message.id.in_(starting), Message.status == MessageStatus.SCHEDULED)
                .values(status=MessageStatus.PENDING, started_at=now),
                execution_options={"synchronize_session": False},
            )
    # In claim order, which the dispatcher keeps: an urgent row goes first within its batch.
    place = {recipient_id: n for n, recipient_id in enumerate(ids)}
    return [
        ClaimedRecipient(r.id, r.message_id, r.phone, r.content, r.attempts, r.maybe_duplicate)
        for r in sorted(sending, key=lambda r: place[r.id])
    ]


def release_claims(session: Session, worker_id: str, recipient_ids: Sequence[int]) -> None:
    """Hand unstarted claims back so another dispatcher can take them now, not at lease end."""
    if not recipient_ids:
        return
    now = utcnow()
    with transaction(session):
        session.execute(
            update(Recipient)
            .where(
                Recipient.id.in_(list(recipient_ids)),
                Recipient.claimed_by == worker_id,
                Recipient.status == RecipientStatus.PENDING,
            )
            .values(claimed_by=None, claimed_at=None, next_attempt_at=now, turn=later_turn(now)),
            execution_options={"synchronize_session": False},
        )


def queued_count(session: Session) -> int:
    """Recipients still waiting for a final result, across all messages."""
    return session.scalar(QUEUED) or 0

"""What attempts decided, and recording it: only for rows the dispatcher still owns.

A result comes back to the database in batches; the recipient row, its message's counts and
status, a dead letter for a recipient that failed for good and the webhook outbox's entries
for what became final change in one transaction.
A row another dispatcher has taken over meanwhile (this one's lease ran out) is left alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from smspanel.models import Message, Recipient, RecipientStatus, utcnow
from smspanel.services.dead_letter import FinalFailure, write_dead_letters
from smspanel.services.delivery.claims import ClaimedRecipient
from smspanel.services.delivery.gateway import GatewayReply, GatewayTransportError
from smspanel.services.delivery.queue_order import later_turn
from smspanel.services.message_status import CountChange, adjust_message_counts
from smspanel.services.transactions import locks_rows, transaction
from smspanel.services.webhooks import outbox

ERROR_MESSAGE_LIMIT = 500


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one attempt decided for one recipient: use the constructors below."""

    recipient_id: int
    message_id: int
    # RecipientStatus: sent, failed, pending (retry at `retry_at`), or cancelled (a retry of a
    # cancelled message's recipient)
    status: str
    attempts: int
    finished_at: datetime
    retry_at: datetime | None = None
    gateway_status: int | None = None
    gateway_response: str | None = None
    error_kind: str | None = None
    error_message: str | None = None
    maybe_duplicate: bool = False

    @classmethod
    def sent(cls, claimed: ClaimedRecipient, reply: GatewayReply) -> DeliveryOutcome:
        """The gateway accepted it (2xx)."""
        return cls._after(claimed, RecipientStatus.SENT, reply=reply)

    @classmethod
    def refused(cls, claimed: ClaimedRecipient, reply: GatewayReply) -> DeliveryOutcome:
        """The gateway answered with an error: final, never retried."""
        return cls._after(
            claimed,
            RecipientStatus.FAILED,
            reply=reply,
            error_kind=f"http_{reply.status_code}",
            error_message=f"gateway answered HTTP {reply.status_code}: {reply.body}",
        )

    @classmethod
    def retry_later(
        cls, claimed: ClaimedRecipient, error: GatewayTransportError, delay: float
    ) -> DeliveryOutcome:
        """No answer; the recipient comes due again after `delay` seconds."""
        now = utcnow()
        return cls._after(
            claimed,
            RecipientStatus.PENDING,
            now=now,
            retry_at=now + timedelta(seconds=delay),
            error_kind=error.kind,
            error_message=f"attempt {claimed.attempts + 1}: {error}; retrying in {delay:g} s",
            maybe_duplicate=error.maybe_delivered,
        )

    @classmethod
    def gave_up(cls, claimed: ClaimedRecipient, error: GatewayTransportError) -> DeliveryOutcome:
        """No answer on the last attempt the retry policy allows."""
        attempt = claimed.attempts + 1
        return cls._after(
            claimed,
            RecipientStatus.FAILED,
            error_kind=error.kind,
            error_message=f"gave up after {attempt} attempts; last attempt {attempt}: {error}",
            maybe_duplicate=error.maybe_delivered,
        )

    @classmethod
    def internal_error(cls, claimed: ClaimedRecipient, error: Exception) -> DeliveryOutcome:
        """A bug or an odd library error: the recipient fails visibly rather than vanish."""
        return cls._after(
            claimed,
            RecipientStatus.FAILED,
            error_kind="internal",
            error_message=f"{type(error).__name__}: {error}",
        )

    @classmethod
    def _after(
        cls,
        claimed: ClaimedRecipient,
        status: str,
        *,
        reply: GatewayReply | None = None,
        now: datetime | None = None,
        retry_at: datetime | None = None,
        error_kind: str | None = None,
        error_message: str | None = None,
        maybe_duplicate: bool = False,
    ) -> DeliveryOutcome:
        return cls(
            recipient_id=claimed.id,
            message_id=claimed.message_id,
            status=status,
            attempts=claimed.attempts + 1,
            finished_at=now or utcnow(),
            retry_at=retry_at,
            gateway_status=reply.status_code if reply else None,
            gateway_response=reply.body if reply else None,
            error_kind=error_kind,
            error_message=error_message[:ERROR_MESSAGE_LIMIT] if error_message else None,
            # Once a request may have been delivered, every later copy may be a duplicate.
            maybe_duplicate=claimed.maybe_duplicate or maybe_duplicate,
        )


def record_outcomes(session: Session, worker_id: str, outcomes: Sequence[DeliveryOutcome]) -> int:
    """Write a batch of results for rows this worker still owns; return how many were kept."""
    if not outcomes:
        return 0
    with transaction(session, write=True):
        ids = sorted(o.recipient_id for o in outcomes)
        owned_query = select(Recipient.id).where(
            Recipient.id.in_(ids),
            Recipient.claimed_by == worker_id,
            Recipient.status == RecipientStatus.PENDING,
        )
        if locks_rows(session):
            owned_query = owned_query.with_for_update()
        owned = set(session.scalars(owned_query))
        kept = sorted(
            (o for o in outcomes if o.recipient_id in owned), key=lambda o: o.recipient_id
        )
        if not kept:
            return 0
        # Lock the counters' rows up front, in id order, rather than on first update.
        message_ids = sorted({o.message_id for o in kept})
        messages_query = (
            select(Message.id).where(Message.id.in_(message_ids), Message.cancelled_at.is_not(None))
        ).order_by(Message.id)
        if locks_rows(session):
            session.execute(
                select(Message.id)
                .where(Message.id.in_(message_ids))
                .order_by(Message.id)
                .with_for_update()
            ).all()
        cancelled = set(session.scalars(messages_query))
        if cancelled:
            # A retry of a cancelled message's recipient would only be cancelled when claimed.
            kept = [
                replace(o, status=RecipientStatus.CANCELLED, retry_at=None)
                if o.message_id in cancelled and o.status == RecipientStatus.PENDING
                else o
                for o in kept
            ]
        _update_recipients(session, kept)
        final: dict[int, list[int]] = {}
        for o in kept:
            if o.status != RecipientStatus.PENDING:  # a retry to come is not final
                final.setdefault(o.message_id, []).append(o.recipient_id)
        outbox.recipients_final(session, final)
        failed = [o for o in kept if o.status == RecipientStatus.FAILED]
        if failed:
            write_dead_letters(
                session,
                [
                    FinalFailure(
                        o.recipient_id, o.message_id, o.error_kind, o.error_message, o.finished_at
                    )
                    for o in failed
                ],
            )
        finished = Counter((o.message_id, o.status) for o in kept)
        changes = {
            mid: CountChange(
                sent=finished[mid, RecipientStatus.SENT],
                failed=finished[mid, RecipientStatus.FAILED],
                cancelled=finished[mid, RecipientStatus.CANCELLED],
            )
            for mid in message_ids
        }
        changes = {mid: c for mid, c in changes.items() if c != CountChange()}
        if changes:
            adjust_message_counts(session, changes, now=max(o.finished_at for o in kept))
    return len(kept)


_recipients = Recipient.__table__
_RECORD_RESULT = (
    update(_recipients)
    .where(_recipients.c.id == bindparam("rid"))
    .values(
        status=bindparam("new_status"),
        attempts=bindparam("new_attempts"),
        next_attempt_at=bindparam("new_next_attempt_at"),
        turn=bindparam("new_turn"),
        claimed_by=None,
        claimed_at=None,
        gateway_status=bindparam("new_gateway_status"),
        gateway_response=bindparam("new_gateway_response"),
        error_kind=bindparam("new_error_kind"),
        error_message=bindparam("new_error_message"),
        maybe_duplicate=bindparam("new_maybe_duplicate"),
        sent_at=bindparam("new_sent_at"),
        updated_at=bindparam("new_updated_at"),
    )
)


def _update_recipients(session: Session, kept: Sequence[DeliveryOutcome]) -> None:
    session.execute(
        _RECORD_RESULT,
        [
            {
                "rid": o.recipient_id,
                "new_status": o.status,
                "new_attempts": o.attempts,
                "new_next_attempt_at": o.retry_at or o.finished_at,
                # A retry waits out of its lane and comes back at its head (queue_order.py).
                "new_turn": later_turn(o.retry_at or o.finished_at),
                "new_gateway_status": o.gateway_status,
                "new_gateway_response": o.gateway_response,
                "new_error_kind": o.error_kind,
                "new_error_message": o.error_message,
                "new_maybe_duplicate": o.maybe_duplicate,
                "new_sent_at": o.finished_at if o.status == RecipientStatus.SENT else None,
                "new_updated_at": o.finished_at,
            }
            for o in kept
        ],
    )

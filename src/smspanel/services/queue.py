"""The delivery queue: recipient rows are the jobs, claimed under a lease and finished by owner.

Claim: due rows (`status='pending' AND next_attempt_at <= now`) are locked with
`FOR UPDATE SKIP LOCKED` on PostgreSQL and MariaDB/MySQL, or under SQLite's single writer
(`BEGIN IMMEDIATE`), and stamped with the dispatcher's id. While claimed, `next_attempt_at`
holds the lease's end, so a crashed dispatcher's rows simply come due again. Finishing only
touches rows still claimed by the same dispatcher. Every transaction here is short; the
HTTP call to the gateway happens outside all of them.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from smspanel.models import (
    DeadLetter,
    DeadLetterStatus,
    Message,
    MessageStatus,
    Recipient,
    RecipientStatus,
    utcnow,
)
from smspanel.services.transactions import begin_write, dialect_name

# Set whenever new work is queued in this process, so an idle dispatcher wakes at once.
work_available = threading.Event()


@dataclass(frozen=True)
class ClaimedRecipient:
    id: int
    message_id: int
    phone: str
    content: str
    attempts: int
    maybe_duplicate: bool


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one attempt decided for one recipient."""

    recipient_id: int
    message_id: int
    status: str  # RecipientStatus: sent, failed, or pending (retry at `retry_at`)
    attempts: int
    finished_at: datetime
    retry_at: datetime | None = None
    gateway_status: int | None = None
    gateway_response: str | None = None
    error_kind: str | None = None
    error_message: str | None = None
    maybe_duplicate: bool = False


def derive_message_status(recipient_count: int, sent_count: int, failed_count: int) -> str:
    """A message is pending until every recipient is final, then sent, failed or partial."""
    if sent_count + failed_count < recipient_count:
        return MessageStatus.PENDING
    if failed_count == 0:
        return MessageStatus.SENT
    if sent_count == 0:
        return MessageStatus.FAILED
    return MessageStatus.PARTIAL


def _locks_rows(session: Session) -> bool:
    return dialect_name(session) in ("postgresql", "mysql", "mariadb")


def claim_due_recipients(
    session: Session, worker_id: str, limit: int, lease_seconds: float
) -> list[ClaimedRecipient]:
    """Claim up to `limit` due recipients for `worker_id`, oldest first, in one transaction."""
    now = utcnow()
    begin_write(session)
    due = (
        select(Recipient.id)
        .where(Recipient.status == RecipientStatus.PENDING, Recipient.next_attempt_at <= now)
        .order_by(Recipient.next_attempt_at, Recipient.id)
        .limit(limit)
    )
    if _locks_rows(session):
        due = due.with_for_update(skip_locked=True)
    ids = list(session.scalars(due))
    if not ids:
        session.commit()
        return []
    session.execute(
        update(Recipient)
        .where(Recipient.id.in_(ids))
        .values(
            claimed_by=worker_id,
            claimed_at=now,
            next_attempt_at=now + timedelta(seconds=lease_seconds),
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
            Message.content,
        )
        .join(Message, Message.id == Recipient.message_id)
        .where(Recipient.id.in_(ids))
        .order_by(Recipient.id)
    ).all()
    session.commit()
    return [
        ClaimedRecipient(r.id, r.message_id, r.phone, r.content, r.attempts, r.maybe_duplicate)
        for r in rows
    ]


def record_outcomes(session: Session, worker_id: str, outcomes: Sequence[DeliveryOutcome]) -> int:
    """Write a batch of results for rows this worker still owns; return how many were kept."""
    if not outcomes:
        return 0
    begin_write(session)
    ids = sorted(o.recipient_id for o in outcomes)
    owned_query = select(Recipient.id).where(
        Recipient.id.in_(ids),
        Recipient.claimed_by == worker_id,
        Recipient.status == RecipientStatus.PENDING,
    )
    if _locks_rows(session):
        owned_query = owned_query.with_for_update()
    owned = set(session.scalars(owned_query))
    kept = sorted((o for o in outcomes if o.recipient_id in owned), key=lambda o: o.recipient_id)
    if not kept:
        session.commit()
        return 0
    if _locks_rows(session):
        # Lock the counters' rows up front, in id order, rather than on first update.
        message_ids = sorted({o.message_id for o in kept})
        session.execute(
            select(Message.id)
            .where(Message.id.in_(message_ids))
            .order_by(Message.id)
            .with_for_update()
        ).all()

    session.execute(
        update(Recipient.__table__)
        .where(Recipient.__table__.c.id == bindparam("rid"))
        .values(
            status=bindparam("new_status"),
            attempts=bindparam("new_attempts"),
            next_attempt_at=bindparam("new_next_attempt_at"),
            claimed_by=None,
            claimed_at=None,
            gateway_status=bindparam("new_gateway_status"),
            gateway_response=bindparam("new_gateway_response"),
            error_kind=bindparam("new_error_kind"),
            error_message=bindparam("new_error_message"),
            maybe_duplicate=bindparam("new_maybe_duplicate"),
            sent_at=bindparam("new_sent_at"),
            updated_at=bindparam("new_updated_at"),
        ),
        [
            {
                "rid": o.recipient_id,
                "new_status": o.status,
                "new_attempts": o.attempts,
                "new_next_attempt_at": o.retry_at or o.finished_at,
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

    failed = [o for o in kept if o.status == RecipientStatus.FAILED]
    if failed:
        _write_dead_letters(session, failed)

    sent_delta: dict[int, int] = defaultdict(int)
    failed_delta: dict[int, int] = defaultdict(int)
    for o in kept:
        if o.status == RecipientStatus.SENT:
            sent_delta[o.message_id] += 1
        elif o.status == RecipientStatus.FAILED:
            failed_delta[o.message_id] += 1
    changed = sorted(set(sent_delta) | set(failed_delta))
    if changed:
        adjust_message_counts(
            session,
            {mid: (sent_delta.get(mid, 0), failed_delta.get(mid, 0)) for mid in changed},
            now=max(o.finished_at for o in kept),
        )
    session.commit()
    return len(kept)


def _write_dead_letters(session: Session, failed: Sequence[DeliveryOutcome]) -> None:
    """One dead-letter entry per recipient: a repeat failure reopens the existing one."""
    by_recipient = {o.recipient_id: o for o in failed}
    existing = set(
        session.scalars(
            select(DeadLetter.recipient_id).where(DeadLetter.recipient_id.in_(by_recipient))
        )
    )
    phones = {
        rid: phone
        for rid, phone in session.execute(
            select(Recipient.id, Recipient.phone).where(Recipient.id.in_(by_recipient))
        )
    }
    new_rows = [
        {
            "recipient_id": o.recipient_id,
            "message_id": o.message_id,
            "phone": phones[o.recipient_id],
            "status": DeadLetterStatus.PENDING,
            "error_type": o.error_kind or "unknown",
            "error_message": o.error_message or "",
            "retry_count": 0,
            "created_at": o.finished_at,
            "updated_at": o.finished_at,
        }
        for o in failed
        if o.recipient_id not in existing
    ]
    if new_rows:
        session.execute(insert(DeadLetter.__table__), new_rows)
    reopened = [by_recipient[rid] for rid in sorted(existing)]
    if reopened:
        table = DeadLetter.__table__
        session.execute(
            update(table)
            .where(table.c.recipient_id == bindparam("rid"))
            .values(
                status=DeadLetterStatus.PENDING,
                error_type=bindparam("new_error_type"),
                error_message=bindparam("new_error_message"),
                updated_at=bindparam("new_updated_at"),
            ),
            [
                {
                    "rid": o.recipient_id,
                    "new_error_type": o.error_kind or "unknown",
                    "new_error_message": o.error_message or "",
                    "new_updated_at": o.finished_at,
                }
                for o in reopened
            ],
        )


def adjust_message_counts(
    session: Session, deltas: dict[int, tuple[int, int]], now: datetime
) -> None:
    """Apply (sent, failed) count changes per message, then re-derive each status."""
    table = Message.__table__
    session.execute(
        update(table)
        .where(table.c.id == bindparam("mid"))
        .values(
            sent_count=table.c.sent_count + bindparam("d_sent"),
            failed_count=table.c.failed_count + bindparam("d_failed"),
        ),
        [{"mid": mid, "d_sent": s, "d_failed": f} for mid, (s, f) in sorted(deltas.items())],
    )
    refresh_message_status(session, deltas.keys(), now)


def refresh_message_status(session: Session, message_ids: Iterable[int], now: datetime) -> None:
    ids = sorted(message_ids)
    rows = session.execute(
        select(
            Message.id,
            Message.recipient_count,
            Message.sent_count,
            Message.failed_count,
            Message.status,
        ).where(Message.id.in_(ids))
    ).all()
    changes = []
    for row in rows:
        status = derive_message_status(row.recipient_count, row.sent_count, row.failed_count)
        if status != row.status:
            final = status != MessageStatus.PENDING
            changes.append(
                {"mid": row.id, "new_status": status, "new_completed_at": now if final else None}
            )
    if changes:
        table = Message.__table__
        session.execute(
            update(table)
            .where(table.c.id == bindparam("mid"))
            .values(status=bindparam("new_status"), completed_at=bindparam("new_completed_at")),
            changes,
        )


def release_claims(session: Session, worker_id: str, recipient_ids: Sequence[int]) -> None:
    """Hand unstarted claims back so another dispatcher can take them now, not at lease end."""
    if not recipient_ids:
        return
    session.execute(
        update(Recipient)
        .where(
            Recipient.id.in_(list(recipient_ids)),
            Recipient.claimed_by == worker_id,
            Recipient.status == RecipientStatus.PENDING,
        )
        .values(claimed_by=None, claimed_at=None, next_attempt_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    session.commit()


def queued_count(session: Session) -> int:
    """Recipients still waiting for a final result, across all messages."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Recipient)
            .where(Recipient.status == RecipientStatus.PENDING)
        )
        or 0
    )

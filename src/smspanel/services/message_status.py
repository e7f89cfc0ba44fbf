"""A message's counts and status, kept in step with its recipients: the one place a
message's status is derived."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from smspanel.models import FINAL_MESSAGE_STATUSES, Message, MessageStatus
from smspanel.services import quotas, telemetry


@dataclass(frozen=True)
class CountChange:
    """How many of one message's recipients just became sent, failed, cancelled or skipped."""

    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0


def derive_message_status(
    recipient_count: int,
    sent_count: int,
    failed_count: int,
    skipped_count: int = 0,
    cancelled_count: int = 0,
    current: str | None = None,
) -> str:
    """Scheduled, awaiting approval or pending until no recipient is pending; then, over
    those attempted, sent, failed or partial, unless a cancel stopped any recipient
    (cancelled). A rejected message stays rejected (its recipients were cancelled)."""
    if current == MessageStatus.REJECTED:
        return MessageStatus.REJECTED
    if sent_count + failed_count + skipped_count + cancelled_count < recipient_count:
        if current in (MessageStatus.SCHEDULED, MessageStatus.AWAITING_APPROVAL):
            return MessageStatus(current)
        return MessageStatus.PENDING
    if cancelled_count:
        return MessageStatus.CANCELLED
    if failed_count == 0:
        return MessageStatus.SENT
    if sent_count == 0:
        return MessageStatus.FAILED
    return MessageStatus.PARTIAL


def adjust_message_counts(session: Session, changes: dict[int, CountChange], now: datetime) -> None:
    """Apply count changes per message, then re-derive each status; recipients that became
    skipped or cancelled give their segments back to their department's month."""
    table = Message.__table__
    session.execute(
        update(table)
        .where(table.c.id == bindparam("mid"))
        .values(
            sent_count=table.c.sent_count + bindparam("d_sent"),
            failed_count=table.c.failed_count + bindparam("d_failed"),
            cancelled_count=table.c.cancelled_count + bindparam("d_cancelled"),
            skipped_count=table.c.skipped_count + bindparam("d_skipped"),
        ),
        [
            {
                "mid": mid,
                "d_sent": c.sent,
                "d_failed": c.failed,
                "d_cancelled": c.cancelled,
                "d_skipped": c.skipped,
            }
            for mid, c in sorted(changes.items())
        ],
    )
    quotas.give_back(session, {mid: c.cancelled + c.skipped for mid, c in changes.items()})
    refresh_message_status(session, changes.keys(), now)
    telemetry.count_changes_after_commit(session, changes.values())


def refresh_message_status(session: Session, message_ids: Iterable[int], now: datetime) -> None:
    ids = sorted(message_ids)
    rows = session.execute(
        select(
            Message.id,
            Message.recipient_count,
            Message.sent_count,
            Message.failed_count,
            Message.skipped_count,
            Message.cancelled_count,
            Message.status,
        ).where(Message.id.in_(ids))
    ).all()
    changes = []
    for row in rows:
        status = derive_message_status(
            row.recipient_count,
            row.sent_count,
            row.failed_count,
            row.skipped_count,
            row.cancelled_count,
            current=row.status,
        )
        if status != row.status:
            final = status in FINAL_MESSAGE_STATUSES
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

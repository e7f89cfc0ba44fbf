"""A message's counts and status, kept in step with its recipients: the one place a
message's status is derived."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from smspanel.models import Message, MessageStatus


def derive_message_status(recipient_count: int, sent_count: int, failed_count: int) -> str:
    """A message is pending until every recipient is final, then sent, failed or partial."""
    if sent_count + failed_count < recipient_count:
        return MessageStatus.PENDING
    if failed_count == 0:
        return MessageStatus.SENT
    if sent_count == 0:
        return MessageStatus.FAILED
    return MessageStatus.PARTIAL


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

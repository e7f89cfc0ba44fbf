"""The dead-letter queue: recipients that failed for good, for review, retry or abandonment."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from smspanel.models import DeadLetter, DeadLetterStatus, Recipient, RecipientStatus, utcnow
from smspanel.services import audit
from smspanel.services.queue import adjust_message_counts, work_available
from smspanel.services.transactions import begin_write


class DeadLetterError(ValueError):
    """The entry cannot take that action (unknown, or not pending)."""


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(DeadLetter.status, func.count()).group_by(DeadLetter.status)
    ).all()
    counts = dict.fromkeys(DeadLetterStatus.ALL, 0)
    counts.update({status: count for status, count in rows})
    return counts


def retry(session: Session, entry_ids: list[int] | None = None) -> int:
    """Put pending entries' recipients back in the queue; all pending ones when no ids given.

    The recipient becomes pending with a fresh set of attempts and its message's counts and
    status follow; if it fails again the same entry reopens as pending.
    """
    begin_write(session)
    query = select(DeadLetter).where(DeadLetter.status == DeadLetterStatus.PENDING)
    if entry_ids is not None:
        query = query.where(DeadLetter.id.in_(entry_ids))
    entries = list(session.scalars(query.order_by(DeadLetter.id).with_for_update()))
    if entry_ids is not None and len(entries) != len(set(entry_ids)):
        session.rollback()
        raise DeadLetterError("only pending dead-letter entries can be retried")
    if not entries:
        session.commit()
        return 0
    now = utcnow()
    recipient_ids = [e.recipient_id for e in entries]
    requeued = session.execute(
        update(Recipient)
        .where(Recipient.id.in_(recipient_ids), Recipient.status == RecipientStatus.FAILED)
        .values(
            status=RecipientStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            claimed_by=None,
            claimed_at=None,
            error_kind=None,
            error_message=None,
            updated_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    failed_back: dict[int, int] = defaultdict(int)
    for entry in entries:
        entry.status = DeadLetterStatus.RETRIED
        entry.retry_count += 1
        entry.retried_at = now
        entry.updated_at = now
        failed_back[entry.message_id] -= 1
    if requeued.rowcount:  # type: ignore[attr-defined]
        adjust_message_counts(session, {m: (0, d) for m, d in failed_back.items()}, now)
    target = f"dead_letter:{entries[0].id}" if entry_ids else "all pending"
    audit.record(session, "dead_letter.retry", target, f"{len(entries)} entr(y/ies)")
    session.commit()
    work_available.set()
    return len(entries)


def abandon(session: Session, entry_id: int) -> None:
    """Mark a pending entry as permanently failed; its recipient stays failed."""
    entry = session.get(DeadLetter, entry_id)
    if entry is None or entry.status != DeadLetterStatus.PENDING:
        raise DeadLetterError("only pending dead-letter entries can be abandoned")
    now = utcnow()
    entry.status = DeadLetterStatus.ABANDONED
    entry.abandoned_at = now
    entry.updated_at = now
    audit.record(session, "dead_letter.abandon", f"dead_letter:{entry.id}", f"phone {entry.phone}")
    session.commit()

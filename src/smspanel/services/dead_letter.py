"""The dead-letter queue: recipients that failed for good, for review, retry or abandonment.

Entries are written with the failure that made them (`write_dead_letters`, called when a
dispatcher records its results), listed for the admin page, and retried or abandoned there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from smspanel.models import (
    DeadLetter,
    DeadLetterStatus,
    Message,
    Recipient,
    RecipientStatus,
    utcnow,
)
from smspanel.services import audit
from smspanel.services.doorbell import ring_after_commit
from smspanel.services.message_status import CountChange, adjust_message_counts
from smspanel.services.pagination import Page, paginate
from smspanel.services.transactions import transaction
from smspanel.services.wording import _

DEAD_LETTERS_PER_PAGE = 25


class DeadLetterError(ValueError):
    """The entry cannot take that action (unknown, or not pending)."""


@dataclass(frozen=True)
class FinalFailure:
    """A recipient that has just failed for good."""

    recipient_id: int
    message_id: int
    error_type: str | None
    error_message: str | None
    failed_at: datetime


def write_dead_letters(session: Session, failures: Sequence[FinalFailure]) -> None:
    """One entry per recipient, in the caller's transaction: a repeat failure (after a retry)
    reopens the existing entry as pending."""
    by_recipient = {f.recipient_id: f for f in failures}
    existing = set(
        session.scalars(
            select(DeadLetter.recipient_id).where(DeadLetter.recipient_id.in_(by_recipient))
        )
    )
    phones = dict(
        session.execute(
            select(Recipient.id, Recipient.phone).where(Recipient.id.in_(by_recipient))
        ).all()
    )
    new_rows = [
        {
            "recipient_id": f.recipient_id,
            "message_id": f.message_id,
            "phone": phones[f.recipient_id],
            "status": DeadLetterStatus.PENDING,
            "error_type": f.error_type or "unknown",
            "error_message": f.error_message or "",
            "retry_count": 0,
            "created_at": f.failed_at,
            "updated_at": f.failed_at,
        }
        for f in failures
        if f.recipient_id not in existing
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
                    "rid": f.recipient_id,
                    "new_error_type": f.error_type or "unknown",
                    "new_error_message": f.error_message or "",
                    "new_updated_at": f.failed_at,
                }
                for f in reopened
            ],
        )


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(DeadLetter.status, func.count()).group_by(DeadLetter.status)
    ).all()
    counts: dict[str, int] = dict.fromkeys(DeadLetterStatus, 0)
    counts.update({status: count for status, count in rows})
    return counts


def retry(session: Session, entry_ids: list[int] | None = None) -> int:
    """Put pending entries' recipients back in the queue; all pending ones when no ids given.

    The recipient becomes pending with a fresh set of attempts and its message's counts and
    status follow; if it fails again the same entry reopens as pending.
    """
    with transaction(session, write=True):
        query = select(DeadLetter).where(DeadLetter.status == DeadLetterStatus.PENDING)
        if entry_ids is not None:
            query = query.where(DeadLetter.id.in_(entry_ids))
        entries = list(session.scalars(query.order_by(DeadLetter.id).with_for_update()))
        if entry_ids is not None and len(entries) != len(set(entry_ids)):
            raise DeadLetterError(_("only pending dead-letter entries can be retried"))
        if not entries:
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
            adjust_message_counts(
                session, {m: CountChange(failed=d) for m, d in failed_back.items()}, now
            )
        target = f"dead_letter:{entries[0].id}" if entry_ids else "all pending"
        audit.record(session, "dead_letter.retry", target, f"{len(entries)} entr(y/ies)")
        ring_after_commit(session)
    return len(entries)


def abandon(session: Session, entry_id: int) -> None:
    """Mark a pending entry as permanently failed; its recipient stays failed."""
    with transaction(session):
        entry = session.get(DeadLetter, entry_id)
        if entry is None or entry.status != DeadLetterStatus.PENDING:
            raise DeadLetterError(_("only pending dead-letter entries can be abandoned"))
        now = utcnow()
        entry.status = DeadLetterStatus.ABANDONED
        entry.abandoned_at = now
        entry.updated_at = now
        audit.record(
            session, "dead_letter.abandon", f"dead_letter:{entry.id}", f"phone {entry.phone}"
        )


def list_dead_letters(
    session: Session, status: str, page: int, per_page: int = DEAD_LETTERS_PER_PAGE
) -> Page[Any]:
    """One page of (DeadLetter, message content) rows, newest first, optionally of one status."""
    query = select(DeadLetter, Message.content).join(Message, Message.id == DeadLetter.message_id)
    if status in tuple(DeadLetterStatus):
        query = query.where(DeadLetter.status == status)
    return paginate(
        session, query.order_by(DeadLetter.created_at.desc(), DeadLetter.id.desc()), page, per_page
    )

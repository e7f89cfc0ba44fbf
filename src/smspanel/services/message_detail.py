"""What a message's page shows besides the message: who sent it and its recipients."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smspanel.models import Message, Recipient, RecipientStatus, User
from smspanel.services.eligibility import REASON_ORDER
from smspanel.services.pagination import Page, paginate

RECIPIENTS_PER_PAGE = 50


def sender_name(session: Session, message: Message) -> str | None:
    """The sender's username; None once the sender's account is deleted."""
    if message.user_id is None:
        return None
    return session.scalar(select(User.username).where(User.id == message.user_id))


def list_recipients(
    session: Session,
    message_id: int,
    page: int,
    status: str = "",
    per_page: int = RECIPIENTS_PER_PAGE,
) -> Page[Any]:
    """One page of a message's recipients (optionally of one status), in the order sent.

    The caller has found the message within its reader's scope (ownership.find_message).
    """
    query = select(Recipient).where(Recipient.message_id == message_id)
    if status in tuple(RecipientStatus):
        query = query.where(Recipient.status == status)
    return paginate(session, query.order_by(Recipient.id), page, per_page)


def skip_reasons(session: Session, message_id: int) -> dict[str, int]:
    """How many of the message's recipients were skipped for each reason, in REASON_ORDER."""
    counts = dict(
        session.execute(
            select(Recipient.skip_reason, func.count())
            .where(Recipient.message_id == message_id, Recipient.status == RecipientStatus.SKIPPED)
            .group_by(Recipient.skip_reason)
        ).all()
    )
    return {reason: counts[reason] for reason in REASON_ORDER if counts.get(reason)}


RECIPIENTS_BY_ID_AT_MOST = 200


def recipients_by_id(session: Session, message_id: int, ids: list[int]) -> list[Recipient]:
    """The recipients a message's page shows (by id, at most RECIPIENTS_BY_ID_AT_MOST), for its
    live progress; only the message's own, whatever ids are asked for.

    The caller has found the message within its reader's scope (ownership.find_message).
    """
    if not ids:
        return []
    query = select(Recipient).where(
        Recipient.message_id == message_id, Recipient.id.in_(ids[:RECIPIENTS_BY_ID_AT_MOST])
    )
    return list(session.scalars(query.order_by(Recipient.id)))

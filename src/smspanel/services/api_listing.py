"""GET /api/sms: a user's messages a page at a time, with the exact total the API promises."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smspanel.models import Message, MessageTally
from smspanel.services.history import NEWEST_FIRST, matching_ids
from smspanel.services.ownership import MessageScope


def list_api_messages(
    session: Session, user_id: int, page: int, per_page: int
) -> tuple[list[Message], int]:
    """One page of a user's messages for GET /api/sms, and their exact total.

    The API promises `total` and `pages` and has no filters, so the total is the user's
    message tally, kept by each send: one primary-key read instead of counting up to
    millions of rows on every request. Hence one user, never everyone: the tally is theirs.
    """
    owned = MessageScope.of_user(user_id).conditions()
    total = session.scalar(
        select(MessageTally.message_count).where(MessageTally.user_id == user_id)
    )
    if total is None:
        # No tally row: only for an account that another path added without one (every
        # user has one from the migration or from _add_user). Still exact, just slower.
        total = session.scalar(select(func.count(Message.id)).where(*owned)) or 0
    chosen = matching_ids([owned]).limit(per_page).offset((page - 1) * per_page).subquery()
    rows = session.scalars(
        select(Message).join(chosen, chosen.c.id == Message.id).order_by(*NEWEST_FIRST)
    ).all()
    return list(rows), total

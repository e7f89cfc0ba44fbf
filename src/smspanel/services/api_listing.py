"""GET /api/sms: a user's messages (and their department's) a page at a time, with the
exact total the API promises."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smspanel.models import Message, MessageTally
from smspanel.services.history import NEWEST_FIRST, count_exact, matching_ids
from smspanel.services.ownership import MessageScope


def list_api_messages(
    session: Session, user_id: int, page: int, per_page: int, department_id: int | None = None
) -> tuple[list[Message], int]:
    """One page of a user's messages, and their department's, for GET /api/sms, and their
    exact total.

    The API promises `total` and `pages` and has no filters, so the total of a user
    without a department is their message tally, kept by each send: one primary-key read
    instead of counting up to millions of rows on every request. A department member's
    total is counted instead, from the two indexes (theirs and the department's, each read
    alone, merged): no tally can say how many of their own were sent from the department.
    """
    scope = MessageScope.of_user(user_id, department_id)
    branches = scope.alternatives()
    total: int | None
    if department_id is not None:
        total = count_exact(session, branches)
    else:
        total = session.scalar(
            select(MessageTally.message_count).where(MessageTally.user_id == user_id)
        )
    if total is None:
        # No tally row: only for an account that another path added without one (every
        # user has one from the migration or from _add_user). Still exact, just slower.
        total = session.scalar(select(func.count(Message.id)).where(*scope.conditions())) or 0
    offset = (page - 1) * per_page
    chosen = matching_ids(branches, limit=per_page, offset=offset).subquery()
    rows = session.scalars(
        select(Message).join(chosen, chosen.c.id == Message.id).order_by(*NEWEST_FIRST)
    ).all()
    return list(rows), total

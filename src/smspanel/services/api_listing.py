"""GET /api/sms: a user's messages (and their department's) a page at a time, with the
exact total the API promises."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smspanel.models import Message, MessageTally
from smspanel.services.history import NEWEST_FIRST, matching_ids
from smspanel.services.ownership import MessageScope


def list_api_messages(
    session: Session, user_id: int, page: int, per_page: int, department_id: int | None = None
) -> tuple[list[Message], int]:
    """One page of a user's messages, and their department's, for GET /api/sms, and their
    exact total.

    The API promises `total` and `pages` and has no filters, so the total of a user
    without a department is their message tally, kept by each send: one primary-key read
    instead of counting up to millions of rows on every request. A department member's
    total adds the department's messages, counted from its index, less their own sent from
    it (which both include), counted too: no tally knows either.
    """
    scope = MessageScope.of_user(user_id, department_id)
    tally = select(MessageTally.message_count).where(MessageTally.user_id == user_id)
    total: int | None
    if department_id is None:
        total = session.scalar(tally)
    else:
        # Own + the department's - own sent from the department: one round trip, the
        # department's counted from its index alone.
        own, departments, both = session.execute(
            select(
                tally.scalar_subquery(),
                _count(Message.department_id == department_id),
                _count(Message.user_id == user_id, Message.department_id == department_id),
            )
        ).one()
        total = None if own is None else own + departments - both
    if total is None:
        # No tally row: only for an account that another path added without one (every
        # user has one from the migration or from _add_user). Still exact, just slower.
        total = session.scalar(select(func.count(Message.id)).where(*scope.conditions())) or 0
    offset = (page - 1) * per_page
    chosen = matching_ids(scope.alternatives(), limit=per_page, offset=offset).subquery()
    rows = session.scalars(
        select(Message).join(chosen, chosen.c.id == Message.id).order_by(*NEWEST_FIRST)
    ).all()
    return list(rows), total


def _count(*conditions: Any) -> Any:
    return select(func.count(Message.id)).where(*conditions).scalar_subquery()

"""Departments and roles: who a sender answers to, read once per send."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from smspanel.models import Department, Role, User
from smspanel.services.wording import _


class NotAllowedToSend(PermissionError):
    """A viewer may read their department's messages but never send."""

    def __init__(self) -> None:
        super().__init__(_("Your role is viewer: you can read messages but not send them."))


@dataclass(frozen=True)
class SenderStanding:
    """What a send needs to know about its sender: their department's rules and their role."""

    user_id: int | None
    role: str = Role.SENDER
    department_id: int | None = None
    approval_threshold: int = 0  # 0: never
    monthly_segment_quota: int = 0  # 0: none

    @property
    def may_send(self) -> bool:
        return self.role != Role.VIEWER


NO_SENDER = SenderStanding(user_id=None)  # a send by the system (tests, commands)


def sender_standing(session: Session, user_id: int | None) -> SenderStanding:
    """One indexed read: the sender's role and their department's threshold and quota."""
    if user_id is None:
        return NO_SENDER
    row = session.execute(
        select(
            User.role,
            User.department_id,
            Department.approval_threshold,
            Department.monthly_segment_quota,
        )
        .outerjoin(Department, Department.id == User.department_id)
        .where(User.id == user_id)
    ).one_or_none()
    if row is None:
        return SenderStanding(user_id=user_id)
    return SenderStanding(
        user_id=user_id,
        role=row.role,
        department_id=row.department_id,
        approval_threshold=row.approval_threshold or 0,
        monthly_segment_quota=row.monthly_segment_quota or 0,
    )

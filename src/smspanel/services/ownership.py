"""Who may see which message: one user their own and their department's, an admin on the
web everyone's.

A scope is always stated: `MessageScope.of_user(id, department_id=...)` or `EVERYONE`. A
missing user id is an error, never a silent "all messages". A user without a department
sees only their own messages; a department member also sees every message sent from their
department (`Message.department_id`, set at send time, so moving a user never moves their
past messages, and they keep seeing their own wherever they were sent from).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import or_
from sqlalchemy.orm import Session

from smspanel.models import Message


class Owned(Protocol):
    """A message, or a row naming one's sender and department (a template's scheduled use)."""

    @property
    def user_id(self) -> int | None: ...
    @property
    def department_id(self) -> int | None: ...


@dataclass(frozen=True)
class MessageScope:
    """The messages a reader may see: one user's (`user_id`) and their department's
    (`department_id`, if any), or everyone's."""

    user_id: int | None
    everyone: bool = False
    department_id: int | None = None

    def __post_init__(self) -> None:
        if self.everyone != (self.user_id is None):
            raise ValueError("a scope is either one user's messages or everyone's")
        if self.everyone and self.department_id is not None:
            raise ValueError("everyone's messages include every department's")

    @classmethod
    def of_user(cls, user_id: int, department_id: int | None = None) -> MessageScope:
        return cls(user_id=user_id, department_id=department_id)

    def alternatives(self) -> list[list[Any]]:
        """The scope as alternatives of conditions, each answered by one index (the sender's
        or the department's, newest first): listings read each and merge them, since an OR
        would read and sort all of both before the first page."""
        if self.everyone:
            return [[]]
        own = [Message.user_id == self.user_id]
        if self.department_id is None:
            return [own]
        return [own, [Message.department_id == self.department_id]]

    def conditions(self) -> list[Any]:
        """The scope as one list of SQL conditions on Message (none for everyone), for reads
        of one message and for sums."""
        if self.everyone:
            return []
        if self.department_id is None:
            return [Message.user_id == self.user_id]
        return [or_(Message.user_id == self.user_id, Message.department_id == self.department_id)]

    def includes(self, message: Owned) -> bool:
        return (
            self.everyone
            or message.user_id == self.user_id
            or (self.department_id is not None and message.department_id == self.department_id)
        )

    def describe(self) -> str:
        """How an audit record names the scope."""
        if self.everyone:
            return "all users"
        if self.department_id is None:
            return f"user:{self.user_id}"
        return f"user:{self.user_id} and department:{self.department_id}"


EVERYONE = MessageScope(user_id=None, everyone=True)


def readable_by(user_id: int, *, is_admin: bool, department_id: int | None = None) -> MessageScope:
    """On the web an admin reads everyone's messages, anyone else their own and their
    department's."""
    return EVERYONE if is_admin else MessageScope.of_user(user_id, department_id)


def find_message(session: Session, message_id: int, scope: MessageScope) -> Message | None:
    """The message if it is within `scope`; None whether it is missing or someone else's."""
    message = session.get(Message, message_id)
    if message is None or not scope.includes(message):
        return None
    return message

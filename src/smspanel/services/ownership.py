"""Who may see which message: one user their own, an admin on the web everyone's.

A scope is always stated: `MessageScope.of_user(id)` or `EVERYONE`. A missing user id is
an error, never a silent "all messages".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from smspanel.models import Message


@dataclass(frozen=True)
class MessageScope:
    """The messages a reader may see: one user's (`user_id`), or everyone's."""

    user_id: int | None
    everyone: bool = False

    def __post_init__(self) -> None:
        if self.everyone != (self.user_id is None):
            raise ValueError("a scope is either one user's messages or everyone's")

    @classmethod
    def of_user(cls, user_id: int) -> MessageScope:
        return cls(user_id=user_id)

    def conditions(self) -> list[Any]:
        """The SQL conditions on Message that keep to this scope (none for everyone)."""
        return [] if self.everyone else [Message.user_id == self.user_id]

    def includes(self, message: Message) -> bool:
        return self.everyone or message.user_id == self.user_id


EVERYONE = MessageScope(user_id=None, everyone=True)


def readable_by(user_id: int, *, is_admin: bool) -> MessageScope:
    """On the web an admin reads everyone's messages and anyone else only their own."""
    return EVERYONE if is_admin else MessageScope.of_user(user_id)


def find_message(session: Session, message_id: int, scope: MessageScope) -> Message | None:
    """The message if it is within `scope`; None whether it is missing or someone else's."""
    message = session.get(Message, message_id)
    if message is None or not scope.includes(message):
        return None
    return message

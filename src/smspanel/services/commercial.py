"""Commercial electronic messages (UEMO, Cap. 593): the unsubscribe statement they carry.

A commercial send's text must say how to unsubscribe (s.9). The statement is the setting
`UEMO_UNSUBSCRIBE_TEXT`; a text that does not already contain it gets it once, on a line of
its own at the end, and it counts towards the length limit and the segments like any other
character. Skipping the do-not-call register is the eligibility rules' part.
"""

from __future__ import annotations

from smspanel.services.content import MAX_CONTENT_LENGTH, InvalidContent
from smspanel.services.wording import _


def with_statement(text: str, statement: str) -> str:
    """`text`, with `statement` on a new line at its end unless it is already in it."""
    if not statement or statement in text:
        return text
    return f"{text}\n{statement}"


def commercial_content(text: str, statement: str) -> str:
    """The text of a commercial send; InvalidContent when the statement makes it too long."""
    full = with_statement(text, statement)
    if len(full) > MAX_CONTENT_LENGTH:
        raise InvalidContent(too_long_message(len(full), len(statement)))
    return full


def too_long_message(length: int, statement_length: int) -> str:
    return _(
        "with the unsubscribe statement (%(statement)s characters) the message is "
        "%(length)s characters; the maximum is %(maximum)s, so shorten the content by "
        "%(over)s characters",
        statement=statement_length + 1,  # and the line break before it
        length=length,
        maximum=MAX_CONTENT_LENGTH,
        over=length - MAX_CONTENT_LENGTH,
    )

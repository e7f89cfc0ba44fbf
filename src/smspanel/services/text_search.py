"""What a listing's search box means, the same in every listing: the typed text appears in
the column, ignoring case, and `%`, `_` and `\\` are matched as themselves, never as SQL
wildcards (a search for "50%" finds "50%", not "50" followed by anything)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement


def contains_text(column: Any, text: str) -> ColumnElement[bool]:
    """`column` contains `text`, ignoring case, wildcards escaped."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def contains_digits(column: Any, digits: str) -> ColumnElement[bool]:
    """A phone-number column contains these digits (no case to ignore: the index is used)."""
    return column.contains(digits, autoescape=True)

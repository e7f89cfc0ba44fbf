"""Record the SQL a piece of work sends, to show a page costs a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event

from smspanel.models import db


@contextmanager
def recorded_statements(app: Flask) -> Iterator[list[str]]:
    """Every statement sent to the app's database inside the block, in order."""
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)

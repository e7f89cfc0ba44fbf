"""Short write transactions that behave the same on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def dialect_name(session: Session) -> str:
    bind = session.get_bind()
    return bind.dialect.name


def begin_write(session: Session) -> None:
    """Take SQLite's write lock up front, so a read-then-write transaction cannot fail.

    A deferred SQLite transaction that reads and then writes fails at once with
    "database is locked" if another writer committed in between; BEGIN IMMEDIATE waits its
    turn under the busy timeout instead. Servers lock rows (`FOR UPDATE`), so this is a no-op.
    """
    if dialect_name(session) != "sqlite":
        return
    dbapi_connection = session.connection().connection.dbapi_connection
    if dbapi_connection is not None and not dbapi_connection.in_transaction:
        session.execute(text("BEGIN IMMEDIATE"))

"""Short write transactions that behave the same on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random


def dialect_name(session: Session) -> str:
    bind = session.get_bind()
    return bind.dialect.name


def locks_rows(session: Session) -> bool:
    """Whether `FOR UPDATE` locks rows here (servers); SQLite has one writer instead."""
    return dialect_name(session) in ("postgresql", "mysql", "mariadb")


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


_DEPTH = "smspanel.transaction_depth"
_AFTER_COMMIT = "smspanel.after_commit"


@contextlib.contextmanager
def transaction(session: Session, *, write: bool = False) -> Iterator[Session]:
    """One use case, one transaction: commit when the block ends, roll back if it raises.

    A use case run from inside another joins the outer one, so the outer still commits or
    rolls back as a whole. `write` takes SQLite's write lock first (see `begin_write`).
    """
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
        if write:
            begin_write(session)
        yield session
        if depth == 0:
            session.commit()
    except BaseException:
        if depth == 0:
            session.rollback()
            session.info.pop(_AFTER_COMMIT, None)
        raise
    finally:
        session.info[_DEPTH] = depth
    if depth == 0:
        for callback in session.info.pop(_AFTER_COMMIT, []):
            callback()


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the enclosing transaction has committed (never if it rolls back)."""
    if session.info.get(_DEPTH, 0) == 0:
        raise RuntimeError("after_commit needs an open transaction(session)")
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


_CONFLICT_CODES = {
    1213,  # MySQL/MariaDB: deadlock found
    1205,  # MySQL/MariaDB: lock wait timeout
}
_CONFLICT_SQLSTATES = {"40001", "40P01"}  # PostgreSQL: serialization failure, deadlock


def is_transient_conflict(error: BaseException) -> bool:
    """A deadlock or serialization failure: the database rolled back; running again is safe."""
    if not isinstance(error, DBAPIError):
        return False
    original = error.orig
    code = getattr(original, "args", (None,))[0] if original is not None else None
    sqlstate = getattr(original, "sqlstate", None)
    return code in _CONFLICT_CODES or sqlstate in _CONFLICT_SQLSTATES


T = TypeVar("T")


def with_conflict_retry(session: Session, work: Callable[[], T], attempts: int = 5) -> T:
    """Run a whole transaction, again after a rollback if it lost a deadlock, with jitter."""

    def rollback_before_retry(state: RetryCallState) -> None:
        session.rollback()

    for attempt in Retrying(
        retry=retry_if_exception(is_transient_conflict),
        stop=stop_after_attempt(attempts),
        wait=wait_random(0.005, 0.05),
        before_sleep=rollback_before_retry,
        reraise=True,
    ):
        with attempt:
            return work()
    raise AssertionError("unreachable")  # pragma: no cover

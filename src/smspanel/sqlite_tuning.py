"""SQLite as smspanel runs it: WAL, a write queue, and current planner statistics.

Applied to the app's own engine only (`tune_engine`), never to every engine in the process.

- WAL lets readers work during a write; `synchronous=NORMAL` is durable across a process
  crash (WAL's guarantee), and foreign keys are enforced as on the servers.
- Writers queue on a lock file, `<database>.write-queue`, taken just before a
  transaction's first write (when SQLite would take its own write lock) and released at
  commit or rollback. SQLite's own busy handler sleeps up to 100 ms between tries, so a
  short web write behind a stream of dispatcher writes could wait far longer than the
  writes ahead of it took (docs/PERFORMANCE.md). A writer that cannot get its turn within
  `WRITE_QUEUE_DEADLINE_SECONDS` gives up with an error naming the queue.
- A database that grew from empty has no planner statistics, and SQLite then chose plans
  that read a user's whole history; a sampled ANALYZE at start and hourly keeps them current.
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

BUSY_TIMEOUT_SECONDS = 30
WRITE_QUEUE_DEADLINE_SECONDS = 30.0
# While another writer holds the queue, look again after this long, doubling up to the cap:
# a turn that comes is noticed within milliseconds, and an idle wait costs no CPU to speak of.
FIRST_RETRY_SECONDS = 0.0002
RETRY_CAP_SECONDS = 0.002


class WriteQueueTimeout(sqlite3.OperationalError):
    """Another writer held the database for longer than the deadline."""


class WriteQueuedConnection(sqlite3.Connection):
    """A SQLite connection whose writers take turns on a lock file, not in SQLite's busy loop."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        name = os.fsdecode(database) if isinstance(database, str | bytes | os.PathLike) else ""
        self.queue_path = f"{name}.write-queue" if name and not name.startswith(":") else None
        self.queue_deadline = WRITE_QUEUE_DEADLINE_SECONDS
        self._queue_fd: int | None = None
        self._queued = False

    def queue_for_write(self) -> None:
        if self._queued or self.queue_path is None:
            return
        if self._queue_fd is None:
            self._queue_fd = os.open(self.queue_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + self.queue_deadline
        pause = FIRST_RETRY_SECONDS
        while True:
            try:
                fcntl.flock(self._queue_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WriteQueueTimeout(
                        f"database is locked: another writer held it for over "
                        f"{self.queue_deadline:g} s (write queue {self.queue_path})"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, RETRY_CAP_SECONDS)
        self._queued = True

    def _leave_queue(self) -> None:
        if self._queued and self._queue_fd is not None:
            fcntl.flock(self._queue_fd, fcntl.LOCK_UN)
        self._queued = False

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._leave_queue()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._leave_queue()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._leave_queue()
            if self._queue_fd is not None:
                os.close(self._queue_fd)
                self._queue_fd = None


_WRITE = re.compile(r"\s*(?:INSERT|UPDATE|DELETE|REPLACE|BEGIN IMMEDIATE)\b", re.IGNORECASE)


def connect_args() -> dict[str, Any]:
    """What `create_engine` needs for a tuned SQLite engine (threads share the pool)."""
    return {
        "timeout": BUSY_TIMEOUT_SECONDS,
        "check_same_thread": False,
        "factory": WriteQueuedConnection,
    }


def tune_engine(engine: Engine) -> None:
    """Set the pragmas on each new connection and queue this engine's writers."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def set_pragmas(dbapi_connection, connection_record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "before_cursor_execute")
    def queue_writers(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection = conn.connection.dbapi_connection
        if isinstance(dbapi_connection, WriteQueuedConnection) and _WRITE.match(statement):
            dbapi_connection.queue_for_write()


def refresh_planner_statistics(session: Session) -> None:
    """Give SQLite's query planner current table sizes; PostgreSQL and InnoDB keep their own.

    Sampled (`analysis_limit`), so it takes milliseconds even on a large database.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    session.execute(text("PRAGMA analysis_limit=1000"))
    session.execute(text("ANALYZE"))
    session.commit()

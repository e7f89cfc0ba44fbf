"""SQLite as smspanel runs it: WAL, a write queue, and current planner statistics.

Applied to the app's own engine only (`tune_engine`), never to every engine in the process.

- WAL lets readers work during a write; `synchronous=NORMAL` is durable across a process
  crash (WAL's guarantee), and foreign keys are enforced as on the servers.
- Writers queue on a lock file, `<database>.write-queue`, taken just before a
  transaction's first write (when SQLite would take its own write lock) and released at
  commit or rollback. SQLite's own busy handler sleeps up to 100 ms between tries, so a
  short web write behind a stream of dispatcher writes could wait far longer than the
  writes ahead of it took (docs/PERFORMANCE.md). A contended writer waits in the kernel's
  queue for the lock (a blocking `flock`, woken the moment the lock is free) from a helper
  thread, so that it can give up at `WRITE_QUEUE_DEADLINE_SECONDS` with an error naming the
  queue; polling for the lock instead cost a third more on p99 under load.
- A database that grew from empty has no planner statistics, and SQLite then chose plans
  that read a user's whole history; a sampled ANALYZE at start and hourly keeps them current.
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

BUSY_TIMEOUT_SECONDS = 30
WRITE_QUEUE_DEADLINE_SECONDS = 30.0


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
        try:
            fcntl.flock(self._queue_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._wait_in_queue(self._queue_fd)
        self._queued = True

    def _wait_in_queue(self, fd: int) -> None:
        """Wait in the kernel's queue for the lock (woken the moment it is free), from a
        waiting thread, so that this thread can give up at the deadline."""
        turn = _Turn(fd)
        if not turn.come.wait(self.queue_deadline):
            # The waiter still holds a place in the queue with this descriptor: it is theirs
            # now, and it closes it once its wait ends, which gives the lock straight back.
            self._queue_fd = None
            turn.abandon()
            raise WriteQueueTimeout(
                f"database is locked: another writer held it for over "
                f"{self.queue_deadline:g} s (write queue {self.queue_path})"
            )

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


class _Turn:
    """A daemon thread waiting for the write-queue lock on a connection's behalf (a daemon:
    a wait that was given up on must never hold up the process's exit)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.come = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = False
        threading.Thread(target=self._wait, name="sqlite-write-queue", daemon=True).start()

    def _wait(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        with self._lock:
            if self._abandoned:
                os.close(self.fd)
            else:
                self.come.set()

    def abandon(self) -> None:
        with self._lock:
            if self.come.is_set():  # it came just as the caller gave up: give it back
                os.close(self.fd)
            self._abandoned = True


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

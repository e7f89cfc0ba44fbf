"""Database wiring: engine tuning, migrations, and first-run preparation."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy import Engine, event, inspect, make_url, text

from smspanel.models import db
from smspanel.services.accounts import ensure_admin
from smspanel.services.transactions import refresh_planner_statistics

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")
# The newest revision in migrations/versions (tests/app/test_migrations.py holds it to Alembic's
# head). Knowing it lets a process that finds the schema current start without Alembic.
SCHEMA_REVISION = "3f9a1c2e7b54"
log = logging.getLogger(__name__)


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, connection_record) -> None:  # type: ignore[no-untyped-def]
    """WAL lets readers work during a write; the busy timeout makes writers queue, not fail."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


class WriteQueuedConnection(sqlite3.Connection):
    """A SQLite connection whose writers queue on a lock file, not in SQLite's busy loop.

    SQLite's busy handler sleeps up to 100 ms between tries, so a short web write behind a
    stream of dispatcher writes could wait a second (measured: POST /api/sms p99 971 ms while
    a 100,000 send was delivered). A blocking flock instead wakes the next writer the moment
    the one before it commits. It is taken before the first write of a transaction, exactly
    when SQLite would take its own write lock, and released at commit or rollback.
    """

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        name = os.fsdecode(database) if isinstance(database, str | bytes | os.PathLike) else ""
        self._queue_path = f"{name}.write-queue" if name and not name.startswith(":") else None
        self._queue_fd: int | None = None
        self._queued = False

    def queue_for_write(self) -> None:
        if self._queued or self._queue_path is None:
            return
        if self._queue_fd is None:
            self._queue_fd = os.open(self._queue_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._queue_fd, fcntl.LOCK_EX)
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


_SQLITE_WRITE = re.compile(r"\s*(?:INSERT|UPDATE|DELETE|REPLACE|BEGIN IMMEDIATE)\b", re.IGNORECASE)


@event.listens_for(Engine, "before_cursor_execute")
def _queue_sqlite_writers(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
    dbapi_connection = conn.connection.dbapi_connection
    if isinstance(dbapi_connection, WriteQueuedConnection) and _SQLITE_WRITE.match(statement):
        dbapi_connection.queue_for_write()


def engine_options(config: dict[str, Any]) -> dict[str, Any]:
    """Pool settings for MySQL/PostgreSQL; a long busy timeout for SQLite."""
    dialect = make_url(config["SQLALCHEMY_DATABASE_URI"]).get_dialect().name
    if dialect == "sqlite":
        return {
            "connect_args": {
                "timeout": 30,
                "check_same_thread": False,
                "factory": WriteQueuedConnection,
            }
        }
    options: dict[str, Any] = {
        "pool_size": config["SQLALCHEMY_POOL_SIZE"],
        "max_overflow": config["SQLALCHEMY_POOL_MAX_OVERFLOW"],
        "pool_recycle": config["SQLALCHEMY_POOL_RECYCLE"],
        "pool_pre_ping": config["SQLALCHEMY_POOL_PRE_PING"],
        # A database that is down must fail requests quickly (503), not hang them.
        "connect_args": {"connect_timeout": 5},
    }
    if dialect in ("mysql", "mariadb"):
        # As job queues on InnoDB do: no gap locks, so claims and updates don't deadlock.
        options["isolation_level"] = "READ COMMITTED"
    return options


def init_app(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    options = engine_options(app.config)
    options.update(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if uri.startswith("sqlite"):
        path = uri.removeprefix("sqlite:///")
        if path and not path.startswith(":"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    if click.get_current_context(silent=True) is not None:
        register_migrations(app)  # the `flask` command is loading the app: offer `flask db`


def register_migrations(app: Flask) -> Any:
    """Bind Flask-Migrate (and its `flask db` commands) on first use.

    Alembic and Mako cost a serving process about 10 MB, and a process that finds the
    schema current never needs them.
    """
    from flask_migrate import Migrate

    if "migrate" not in app.extensions:
        Migrate(app, db, directory=MIGRATIONS_DIR, compare_type=True, render_as_batch=True)
    return app.extensions["migrate"].migrate


def schema_is_current() -> bool:
    if not inspect(db.engine).has_table("alembic_version"):
        return False
    with db.engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return [row[0] for row in versions] == [SCHEMA_REVISION]


@contextlib.contextmanager
def migration_lock(app: Flask) -> Iterator[None]:
    """Let exactly one process of many (gunicorn -w 4) migrate and bootstrap at a time."""
    engine = db.engine
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.migrate-lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
        return
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(735720001)"))
            release = "SELECT pg_advisory_unlock(735720001)"
        else:
            connection.execute(text("SELECT GET_LOCK('smspanel_migrate', 600)"))
            release = "SELECT RELEASE_LOCK('smspanel_migrate')"
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text(release))
            connection.commit()


def upgrade_in_child_process(app: Flask) -> None:
    """Run Alembic in a forked child, so the serving process never loads it (about 10 MB)."""
    db.engine.dispose()  # the child opens its own connections
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            from flask_migrate import upgrade

            register_migrations(app)
            upgrade(directory=MIGRATIONS_DIR)
            db.engine.dispose()
            code = 0
        except BaseException:
            log.exception("Database migration failed")
        finally:
            logging.shutdown()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("database migration failed; the log above says why")


def prepare_database(app: Flask) -> None:
    """Bring the schema to the newest revision and make sure the admin account exists."""
    with app.app_context(), migration_lock(app):
        if not schema_is_current():
            upgrade_in_child_process(app)
        refresh_planner_statistics(db.session)
        generated = ensure_admin(db.session, app.config.get("ADMIN_PASSWORD"))
        db.session.remove()
    if generated:
        if app.config["PRODUCTION"]:
            # Never the secret itself in a production log: it goes to a private file.
            path = Path(app.instance_path) / "initial_admin_password"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as secret_file:
                secret_file.write(generated + "\n")
            log.warning(
                "Created SMSadmin with a generated password, written to %s (mode 0600). "
                "Log in, change it, then delete the file.",
                path,
            )
        else:
            print(f"[DEV] Generated admin password: {generated}", flush=True)


def backup_sqlite(destination: Path) -> int:
    """Copy the live SQLite database with its online-backup API (safe while writers run,
    unlike `cp`); return the copy's size in bytes."""
    url = db.engine.url
    if url.get_dialect().name != "sqlite" or not url.database:
        raise ValueError(
            "backup copies SQLite databases; for MySQL/MariaDB use "
            "`mysqldump --single-transaction`, for PostgreSQL `pg_dump` (see README)"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(url.database)
    target = sqlite3.connect(destination)
    try:
        with target:
            source.backup(target)
    finally:
        target.close()
        source.close()
    return destination.stat().st_size

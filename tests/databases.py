"""Throwaway databases for tests: a SQLite file, or a new database on the server named by
TEST_DATABASE_URL (MariaDB/MySQL or PostgreSQL), dropped again afterwards."""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, make_url, text, update
from sqlalchemy.orm import Session

from smspanel.models import Department, Message, Recipient, RecipientStatus
from smspanel.services.accounts import create_user
from smspanel.services.delivery.queue_order import turn_when_due
from smspanel.services.departments import Assignment

SERVER_URL = os.environ.get("TEST_DATABASE_URL") or None


def server_dialect() -> str:
    """`sqlite` unless TEST_DATABASE_URL names a server."""
    return make_url(SERVER_URL).get_dialect().name if SERVER_URL else "sqlite"


def create_database(directory: Path) -> str:
    """A new empty database; its URL."""
    if not SERVER_URL:
        return f"sqlite:///{directory / f'test-{secrets.token_hex(4)}.db'}"
    name = f"smspanel_test_{os.getpid()}_{secrets.token_hex(4)}"
    server = make_url(SERVER_URL)
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if server.get_dialect().name == "postgresql":
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            connection.execute(
                text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            )
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    target = make_url(url)
    if target.get_dialect().name == "sqlite":
        for suffix in ("", "-wal", "-shm", ".migrate-lock"):
            Path(f"{target.database}{suffix}").unlink(missing_ok=True)
        return
    assert SERVER_URL is not None
    engine = create_engine(make_url(SERVER_URL), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if target.get_dialect().name == "postgresql":
            connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        else:
            connection.execute(text(f"DROP DATABASE IF EXISTS `{target.database}`"))
    engine.dispose()


def query(url: str, sql: str, **params: object) -> list[tuple]:
    """Run one statement against a test database from outside the app; its rows."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def execute(url: str, sql: str, **params: object) -> None:
    """One write against a test database from outside the app."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(sql), params)
    finally:
        engine.dispose()


def as_datetime(value: object) -> datetime:
    """A stored time as read without the app's types (SQLite gives text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def add_department(
    url: str, name: str, threshold: int, members: dict[str, str], password: str
) -> None:
    """A department whose sends to `threshold` recipients or more wait for approval, and its
    `members` (username: role), written into a running app's database through the accounts
    service (for tests that drive the app from outside)."""
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            department = Department(name=name, approval_threshold=threshold)
            session.add(department)
            session.commit()
            for username, role in members.items():
                create_user(session, username, password, assignment=Assignment(department.id, role))
    finally:
        engine.dispose()


def bring_due(url: str, message_id: int, due: datetime) -> None:
    """A scheduled send's time moved to `due` in a running app's database, since the clock
    cannot be moved in the app's process (and a schedule is at least a minute ahead). Its
    pending rows take that second's turns, as a send scheduled for it has, so the claim
    brings them forward as it would."""
    engine = create_engine(url)
    try:
        with Session(engine) as session, session.begin():
            session.execute(
                update(Message).where(Message.id == message_id).values(scheduled_at=due)
            )
            session.execute(
                update(Recipient)
                .where(
                    Recipient.message_id == message_id,
                    Recipient.status == RecipientStatus.PENDING,
                )
                .values(next_attempt_at=due, turn=turn_when_due(due)),
                execution_options={"synchronize_session": False},
            )
    finally:
        engine.dispose()

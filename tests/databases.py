"""Throwaway databases for tests: a SQLite file, or a new database on the server named by
TEST_DATABASE_URL (MariaDB/MySQL or PostgreSQL), dropped again afterwards."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

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
    """Run one statement against a test database from outside the app."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()

"""Database wiring: engine tuning, migrations, and first-run preparation."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy import inspect, make_url, text

from smspanel import sqlite_tuning
from smspanel.models import db
from smspanel.services.accounts import ensure_admin
from smspanel.subcommands import flask_command

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")
# The newest revision in migrations/versions (tests/app/test_migrations.py holds it to Alembic's
# head). Knowing it lets a process that finds the schema current start without Alembic.
SCHEMA_REVISION = "d5f2b7c90e14"
log = logging.getLogger(__name__)


def engine_options(config: dict[str, Any]) -> dict[str, Any]:
    """Pool settings for MySQL/PostgreSQL; a long busy timeout for SQLite."""
    dialect = make_url(config["SQLALCHEMY_DATABASE_URI"]).get_dialect().name
    if dialect == "sqlite":
        return {"connect_args": sqlite_tuning.connect_args()}
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
    with app.app_context():
        sqlite_tuning.tune_engine(db.engine)
    if click.get_current_context(silent=True) is not None:
        register_migrations(app)  # the `flask` command is loading the app: offer `flask db`


def register_migrations(app: Flask) -> Any:
    """Bind Flask-Migrate (and its `flask db` commands) on first use.

    Alembic and Mako are a noticeable share of a serving process's memory
    (docs/PERFORMANCE.md), and a process that finds the schema current never needs them.
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


def upgrade_in_subprocess(app: Flask) -> None:
    """`flask db upgrade` in a process of its own, so the serving process never loads Alembic."""
    command, environment = flask_command(
        "db",
        "upgrade",
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        SMSPANEL_INSTANCE_PATH=app.instance_path,
    )
    if subprocess.run(command, env=environment).returncode != 0:
        raise RuntimeError("database migration failed; the log above says why")


def prepare_database(app: Flask) -> None:
    """Bring the schema to the newest revision and make sure the admin account exists."""
    with app.app_context(), migration_lock(app):
        if not schema_is_current():
            upgrade_in_subprocess(app)
        sqlite_tuning.refresh_planner_statistics(db.session)
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

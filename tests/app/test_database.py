"""The database connection: pool settings take effect and connections always go back."""

import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from smspanel.models import db
from smspanel.sqlite_tuning import WriteQueuedConnection, refresh_planner_statistics
from tests.databases import server_dialect

on_server = pytest.mark.skipif(server_dialect() == "sqlite", reason="pools are for servers")
on_sqlite = pytest.mark.skipif(server_dialect() != "sqlite", reason="SQLite tuning")


@on_server
def test_pool_settings_from_the_spec_take_effect(app):
    with app.app_context():
        pool = db.engine.pool
        assert pool.size() == 10
        assert pool._max_overflow == 20
        assert pool._recycle == 3600
        assert pool._pre_ping is True


@on_sqlite
def test_sqlite_waits_for_writers_instead_of_failing(app):
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_connections_are_returned_after_a_thousand_requests(app, client, make):
    """A leak of one connection per request would empty the pool within its first dozen."""
    user = make.user()
    headers = make.auth(user)
    message_id = make.message(user)
    paths = ["/api/health", f"/api/sms/{message_id}", "/api/sms?per_page=5", "/api/sms/999999"]
    for n in range(1_000):
        client.get(paths[n % len(paths)], headers=headers)
    with app.app_context():
        assert db.engine.pool.checkedout() == 0


@on_sqlite
def test_sqlite_writers_queue_past_the_busy_timeout_instead_of_failing(app, make):
    """A writer behind a long write transaction waits its turn, even with a 1 ms busy timeout."""
    user_id = make.user().id
    first_wrote, second_done = threading.Event(), threading.Event()
    order: list[str] = []

    def write(name: str, hold: float) -> None:
        with app.app_context(), db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA busy_timeout=1")
            connection.execute(
                text("UPDATE users SET username = :name WHERE id = :id"),
                {"name": name, "id": user_id},
            )
            first_wrote.set()
            second_done.wait(hold)
            order.append(name)
            connection.commit()

    first = threading.Thread(target=write, args=("first", 0.5))
    first.start()
    first_wrote.wait(5)
    first_wrote.clear()
    write("second", 0)
    second_done.set()
    first.join(5)
    assert order == ["first", "second"]
    with app.app_context():
        assert db.session.scalar(text("SELECT username FROM users")) == "second"


@on_sqlite
def test_sqlite_planner_statistics_are_refreshed(app, make):
    """A history that grew from empty still gets good plans: starts and idle dispatchers
    record table sizes."""
    user = make.user()
    for _ in range(3):
        make.message(user)
    with app.app_context():
        db.session.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
        db.session.commit()
        refresh_planner_statistics(db.session)
        sized = db.session.execute(text("SELECT DISTINCT tbl FROM sqlite_stat1")).scalars().all()
    assert {"messages", "recipients"} <= set(sized)


@on_sqlite
def test_a_writer_that_cannot_get_its_turn_gives_up_with_an_error_naming_the_queue(app, make):
    user_id = make.user().id
    statement = text("UPDATE users SET username = :name WHERE id = :id")
    with app.app_context(), db.engine.connect() as holder, db.engine.connect() as waiter:
        holder.execute(statement, {"name": "holder", "id": user_id})  # holds the queue
        waiter.connection.dbapi_connection.queue_deadline = 0.2
        started = time.monotonic()
        with pytest.raises(OperationalError, match=r"database is locked: .*write-queue"):
            waiter.execute(statement, {"name": "waiter", "id": user_id})
        assert 0.2 <= time.monotonic() - started < 2
        waiter.rollback()
        holder.commit()
        # The wait given up on gives its place back: the next writer is not stuck behind it.
        waiter.execute(statement, {"name": "waiter", "id": user_id})
        waiter.commit()
    with app.app_context():
        assert db.session.scalar(text("SELECT username FROM users")) == "waiter"


@on_sqlite
def test_the_tuning_applies_to_the_apps_engine_only(app, tmp_path):
    other = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with other.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
        assert not isinstance(connection.connection.dbapi_connection, WriteQueuedConnection)
    with app.app_context(), db.engine.connect() as connection:
        assert isinstance(connection.connection.dbapi_connection, WriteQueuedConnection)
    other.dispose()

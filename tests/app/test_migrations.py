"""Migrations: one head, and `db upgrade` from empty or from any earlier revision builds
exactly what the models describe."""

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import MetaData, Table, func, insert, inspect, select

from smspanel import create_app
from smspanel.database import (
    MIGRATIONS_DIR,
    SCHEMA_REVISION,
    register_migrations,
    schema_is_current,
)
from smspanel.models import MessageTally, Recipient, db, utcnow
from smspanel.services.delivery.queue_order import later_turn


@pytest.fixture
def empty_app(fresh_database, tmp_path, monkeypatch):
    monkeypatch.setenv("SMSPANEL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "m" * 40, "SQLALCHEMY_DATABASE_URI": fresh_database}
    )
    register_migrations(app)
    yield app
    with app.app_context():
        db.engine.dispose()


def revisions(app):
    with app.app_context():
        script = ScriptDirectory.from_config(register_migrations(app).get_config(MIGRATIONS_DIR))
        return script, [r.revision for r in reversed(list(script.walk_revisions()))]


def assert_schema_matches_models():
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_there_is_a_single_head_and_the_app_knows_it(empty_app):
    script, _ = revisions(empty_app)
    assert script.get_heads() == [SCHEMA_REVISION]


def test_the_schema_is_current_only_at_the_head(empty_app):
    _, history = revisions(empty_app)
    with empty_app.app_context():
        assert not schema_is_current()
        upgrade(directory=MIGRATIONS_DIR, revision=history[0])
        assert not schema_is_current()
        upgrade(directory=MIGRATIONS_DIR)
        assert schema_is_current()


def test_upgrade_from_empty_matches_the_models(empty_app):
    with empty_app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "api_tokens", "messages", "recipients", "dead_letters"} <= tables
        assert_schema_matches_models()


def test_upgrade_from_every_earlier_revision(empty_app):
    _, history = revisions(empty_app)
    with empty_app.app_context():
        for revision in history:
            upgrade(directory=MIGRATIONS_DIR, revision=revision)
            upgrade(directory=MIGRATIONS_DIR)
            assert_schema_matches_models()
            downgrade(directory=MIGRATIONS_DIR, revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}


def test_db_upgrade_command(empty_app):
    result = empty_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with empty_app.app_context():
        assert "recipients" in inspect(db.engine).get_table_names()


def test_message_tallies_start_from_the_messages_each_user_already_owns(empty_app):
    with empty_app.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="7c41e0b9a2d3")
        now = utcnow()
        user = {"password_hash": "x", "is_admin": False, "is_active": True, "created_at": now}
        ids = {}
        # The tables as they were at that revision, not as the models describe them now.
        users_then = Table("users", MetaData(), autoload_with=db.session.connection())
        for name in ("alice", "bob", "carol"):
            result = db.session.execute(insert(users_then), {"username": name, **user})
            ids[name] = result.inserted_primary_key[0]
        message = {"content": "Hi", "segments": 1, "status": "sent", "recipient_count": 1,
                   "sent_count": 1, "failed_count": 0, "created_at": now}  # fmt: skip
        owners = [ids["alice"]] * 3 + [ids["bob"]] + [None] * 2  # two of a deleted account
        messages_then = Table("messages", MetaData(), autoload_with=db.session.connection())
        db.session.execute(
            insert(messages_then), [{"user_id": owner, **message} for owner in owners]
        )
        db.session.commit()
        db.session.remove()
        upgrade(directory=MIGRATIONS_DIR)
        tallies = dict(
            db.session.execute(select(MessageTally.user_id, MessageTally.message_count)).all()
        )
        assert tallies == {ids["alice"]: 3, ids["bob"]: 1, ids["carol"]: 0}


def test_the_governance_upgrade_keeps_every_message_and_recipient(empty_app):
    """It rebuilds users and messages on SQLite: their dependants must survive it."""
    with empty_app.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="8c41f0a9d2e3")
        connection = db.session.connection()
        then = {name: Table(name, MetaData(), autoload_with=connection) for name in
                ("users", "messages", "recipients", "message_tallies")}  # fmt: skip
        now = utcnow()
        user_id = db.session.execute(
            insert(then["users"]),
            {
                "username": "alice",
                "password_hash": "x",
                "is_admin": False,
                "is_active": True,
                "created_at": now,
            },
        ).inserted_primary_key[0]
        db.session.execute(
            insert(then["message_tallies"]), {"user_id": user_id, "message_count": 1}
        )
        message_id = db.session.execute(
            insert(then["messages"]),
            {
                "user_id": user_id,
                "content": "Hi",
                "segments": 1,
                "status": "pending",
                "recipient_count": 1,
                "sent_count": 0,
                "failed_count": 0,
                "created_at": now,
            },
        ).inserted_primary_key[0]
        db.session.execute(
            insert(then["recipients"]),
            {
                "message_id": message_id,
                "phone": "91234567",
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "maybe_duplicate": False,
                "updated_at": now,
            },
        )
        db.session.commit()
        db.session.remove()
        upgrade(directory=MIGRATIONS_DIR)
        counts = {
            name: db.session.execute(select(func.count()).select_from(table)).scalar()
            for name, table in then.items()
        }
        owner = db.session.execute(select(then["messages"].c.user_id)).scalar()
    assert counts == {"users": 1, "messages": 1, "recipients": 1, "message_tallies": 1}
    assert owner == user_id


def test_the_governance_upgrade_gives_scheduled_recipients_their_later_turns(empty_app):
    """Recipients due later keep out of the lanes' heads (services/delivery/queue_order.py)."""
    with empty_app.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="8c41f0a9d2e3")
        connection = db.session.connection()
        then = {name: Table(name, MetaData(), autoload_with=connection) for name in
                ("messages", "recipients")}  # fmt: skip
        now = utcnow()
        later = (now + timedelta(hours=2)).replace(microsecond=0)
        message = {"content": "Hi", "segments": 1, "recipient_count": 2, "sent_count": 0,
                   "failed_count": 0, "created_at": now}  # fmt: skip
        ids = [
            db.session.execute(
                insert(then["messages"]), {**message, "status": status}
            ).inserted_primary_key[0]
            for status in ("pending", "scheduled")
        ]
        recipient = {"status": "pending", "attempts": 0, "maybe_duplicate": False,
                     "updated_at": now}  # fmt: skip
        db.session.execute(
            insert(then["recipients"]),
            [
                {**recipient, "message_id": ids[0], "phone": "91234567", "next_attempt_at": now},
                {**recipient, "message_id": ids[1], "phone": "91234567", "next_attempt_at": later},
                {**recipient, "message_id": ids[1], "phone": "98765432", "next_attempt_at": later},
            ],
        )
        db.session.commit()
        db.session.remove()
        upgrade(directory=MIGRATIONS_DIR)
        turns = db.session.execute(
            select(Recipient.message_id, Recipient.turn).order_by(Recipient.id)
        ).all()
    assert turns == [(ids[0], 0), (ids[1], later_turn(later)), (ids[1], later_turn(later) + 1)]

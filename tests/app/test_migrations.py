"""Migrations: one head, `db upgrade` from empty builds exactly what the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import inspect

from smspanel.database import MIGRATIONS_DIR, migrate
from smspanel.models import db


def test_there_is_a_single_head(app):
    with app.app_context():
        config = migrate.get_config(MIGRATIONS_DIR)
        assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_upgrade_from_empty_matches_the_models(app):
    with app.app_context():
        db.drop_all()
        upgrade(directory=MIGRATIONS_DIR)
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "api_tokens", "messages", "recipients", "dead_letters"} <= tables
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []


def test_db_upgrade_command_is_available(runner, app):
    with app.app_context():
        db.drop_all()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert "recipients" in inspect(db.engine).get_table_names()

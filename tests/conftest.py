"""Shared fixtures: a fresh app and database per test, and factories for what tests need."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from smspanel import create_app
from smspanel.models import User, db
from smspanel.services.sending import accept_send
from smspanel.services.users import create_user, issue_token

PASSWORD = "correct horse battery"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setenv("SMSPANEL_INSTANCE_PATH", str(tmp_path / "instance"))
    for name in ("DATABASE_URL", "SMS_BASE_URL", "FLASK_ENV", "SECRET_KEY", "ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key-that-is-long-enough-000",
            "SQLALCHEMY_DATABASE_URI": os.environ.get("TEST_DATABASE_URL")
            or f"sqlite:///{tmp_path / 'test.db'}",
            "SMS_IN_APP_DISPATCHER": False,
        }
    )
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


class Factory:
    """Makes users, tokens and messages through the real services."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._count = 0

    def user(
        self,
        username: str | None = None,
        *,
        is_admin: bool = False,
        active: bool = True,
        password: str = PASSWORD,
    ) -> User:
        self._count += 1
        with self.app.app_context():
            user = create_user(
                db.session, username or f"user{self._count}", password, is_admin=is_admin
            )
            if not active:
                user.is_active = False
                db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    def token(self, user: User) -> str:
        with self.app.app_context():
            return issue_token(db.session, db.session.get(User, user.id))

    def auth(self, user: User | None = None) -> dict[str, str]:
        """Headers for an API call as `user` (a new user when not given)."""
        return {"Authorization": f"Bearer {self.token(user or self.user())}"}

    def message(
        self, user: User, recipients: list[str] | None = None, content: str = "Notice"
    ) -> int:
        with self.app.app_context():
            return accept_send(db.session, user.id, recipients or ["12345678"], content).id


@pytest.fixture
def make(app: Flask) -> Factory:
    return Factory(app)

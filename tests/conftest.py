"""Shared fixtures: a fresh app and database per test, and factories for what tests need."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from smspanel import create_app
from smspanel.models import Department, User, db
from smspanel.services import passwords
from smspanel.services.accounts import create_user
from smspanel.services.delivery.claims import claim_due_recipients
from smspanel.services.delivery.gateway import GatewayReply
from smspanel.services.delivery.outcomes import DeliveryOutcome, record_outcomes
from smspanel.services.departments import (
    Assignment,
    assign,
    create_department,
    update_limits,
)
from smspanel.services.sending import accept_send
from smspanel.services.tokens import issue_token
from tests.databases import SERVER_URL, create_database, drop_database

pytest_plugins = ["tests.webhook_helpers"]  # the webhook tests' fixtures

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashes() -> Iterator[None]:
    """scrypt at N=1024 instead of 32768: a full-cost hash takes ~0.3 s, and most tests make
    an account and log in. Processes started by end-to-end tests keep the full cost."""
    full = passwords.HASH_METHOD
    passwords.HASH_METHOD = "scrypt:1024:8:1"
    yield
    passwords.HASH_METHOD = full


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """SMSPANEL_E2E_ORDER=first|last runs the end-to-end tests before or after the rest: CI
    runs three suites at once on two cores and staggers their timing-sensitive parts."""
    order = os.environ.get("SMSPANEL_E2E_ORDER")
    if order in ("first", "last"):
        items.sort(key=lambda item: (item.get_closest_marker("e2e") is None) == (order == "first"))


@pytest.fixture(scope="session")
def server_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """With TEST_DATABASE_URL: one database on that server for this run, dropped at the end."""
    if SERVER_URL is None:
        yield None
        return
    url = create_database(tmp_path_factory.mktemp("db"))
    yield url
    drop_database(url)


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """A new, empty database of the kind under test (no tables), for migrations and processes."""
    url = create_database(tmp_path)
    yield url
    drop_database(url)


_schema_created: set[str | None] = set()


@pytest.fixture
def app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_database: str | None
) -> Iterator[Flask]:
    monkeypatch.setenv("SMSPANEL_INSTANCE_PATH", str(tmp_path / "instance"))
    for name in ("DATABASE_URL", "SMS_BASE_URL", "FLASK_ENV", "SECRET_KEY", "ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key-that-is-long-enough-000",
            "SQLALCHEMY_DATABASE_URI": server_database or f"sqlite:///{tmp_path / 'test.db'}",
            "SMS_IN_APP_DISPATCHER": False,
        }
    )
    # The run's server database keeps its tables from test to test (emptied after each),
    # so they are created once: creating them costs ~0.1 s a test on MariaDB.
    if server_database not in _schema_created:
        with app.app_context():
            db.create_all()
        if server_database:
            _schema_created.add(server_database)
    yield app
    with app.app_context():
        db.session.remove()
        if server_database:  # the next test starts from empty tables
            with db.engine.begin() as connection:
                for table in reversed(db.metadata.sorted_tables):
                    connection.execute(table.delete())
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
        department: Department | int | None = None,
        role: str = "sender",
    ) -> User:
        self._count += 1
        department_id = department.id if isinstance(department, Department) else department
        with self.app.app_context():
            user = create_user(
                db.session,
                username or f"user{self._count}",
                password,
                is_admin=is_admin,
                assignment=Assignment(department_id, role),
            )
            if not active:
                user.is_active = False
                db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    def department(
        self, name: str | None = None, *, quota: int = 0, threshold: int = 0
    ) -> Department:
        """A department (detached), with a monthly segment quota and approval threshold."""
        self._count += 1
        with self.app.app_context():
            department = create_department(db.session, name or f"Department {self._count}")
            if quota or threshold:
                update_limits(db.session, department, quota, threshold)
            db.session.refresh(department)
            db.session.expunge(department)
            return department

    def assign(
        self, user: User, department: Department | int | None, role: str | None = None
    ) -> User:
        """Move an existing user into `department` (None: out of any), with `role` if given;
        `user` is changed to match."""
        department_id = department.id if isinstance(department, Department) else department
        with self.app.app_context():
            stored = db.session.get(User, user.id)
            assert stored is not None
            assign(db.session, stored, Assignment(department_id, role or stored.role))
            user.department_id, user.role = stored.department_id, stored.role
        return user

    def token(self, user: User) -> str:
        with self.app.app_context():
            return issue_token(db.session, db.session.get(User, user.id))

    def auth(self, user: User | None = None) -> dict[str, str]:
        """Headers for an API call as `user` (a new user when not given)."""
        return {"Authorization": f"Bearer {self.token(user or self.user())}"}

    def deliver(self, failing: frozenset[str] = frozenset()) -> None:
        """Play the dispatcher once: every due recipient is sent, except numbers in `failing`,
        which the gateway refuses (HTTP 401)."""
        with self.app.app_context():
            claimed = claim_due_recipients(db.session, "test-worker", 10_000, 60)
            outcomes = [
                DeliveryOutcome.refused(c, GatewayReply(401, "Unauthorized"))
                if c.phone in failing
                else DeliveryOutcome.sent(c, GatewayReply(200, "OK"))
                for c in claimed
            ]
            record_outcomes(db.session, "test-worker", outcomes)

    def message(
        self,
        user: User,
        recipients: list[str] | None = None,
        content: str = "Notice",
        scheduled_at: datetime | None = None,
    ) -> int:
        with self.app.app_context():
            return accept_send(
                db.session, user.id, recipients or ["12345678"], content, scheduled_at
            ).id


@pytest.fixture
def make(app: Flask) -> Factory:
    return Factory(app)

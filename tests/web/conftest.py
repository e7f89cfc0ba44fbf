"""Web fixtures: CSRF off for most tests (one test module turns it back on), and logins."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD


@pytest.fixture
def app(app: Flask) -> Flask:
    """The shared app, with CSRF checks off so tests can post forms directly."""
    app.config["WTF_CSRF_ENABLED"] = False
    return app


def login(client: FlaskClient, username: str, password: str = PASSWORD):
    return client.post("/login", data={"username": username, "password": password})


@pytest.fixture
def user(make):
    return make.user("alice")


@pytest.fixture
def admin(make):
    return make.user("boss", is_admin=True)


@pytest.fixture
def user_client(client: FlaskClient, user) -> FlaskClient:
    assert login(client, user.username).status_code == 302
    return client


@pytest.fixture
def admin_client(client: FlaskClient, admin) -> FlaskClient:
    assert login(client, admin.username).status_code == 302
    return client


def page_text(response) -> str:
    """The page's visible words, tags removed and blanks collapsed, for reading assertions."""
    body = response.get_data(as_text=True)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def deliver(app: Flask, failing: frozenset[str] = frozenset()) -> None:
    """Play the dispatcher once (see Factory.deliver)."""
    from tests.conftest import Factory

    Factory(app).deliver(frozenset(failing))

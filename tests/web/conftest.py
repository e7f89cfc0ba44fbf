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


# A figure the file check page shows only with its commercial box ticked, or only without
# (app.css): a span, holding at most spans without spans.
_NO_SPAN = r"(?:(?!</?span\b).)"
_SHOWN_IF = rf"<span data-if-{{kind}}>(?:{_NO_SPAN}|<span\b[^>]*>{_NO_SPAN}*</span>)*</span>"


def page_text(response, *, commercial: bool = False) -> str:
    """The page's visible words, tags removed and blanks collapsed, for reading assertions;
    the figures as the page shows them with its commercial box ticked or not."""
    body = response.get_data(as_text=True)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    hidden = _SHOWN_IF.format(kind="plain" if commercial else "commercial")
    body = re.sub(hidden, "", body, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def deliver(app: Flask, failing: frozenset[str] = frozenset()) -> None:
    """Play the dispatcher once (see Factory.deliver)."""
    from tests.conftest import Factory

    Factory(app).deliver(frozenset(failing))

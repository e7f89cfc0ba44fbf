"""With CSRF protection on (the default), a form post without its token changes nothing."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from smspanel.models import Message, User, db
from tests.conftest import PASSWORD


@pytest.fixture
def app(app: Flask) -> Flask:
    """The shared app exactly as configured: CSRF checks on."""
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def csrf_token(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def log_in(client, username: str) -> None:
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302


def test_login_without_a_token_is_refused(client, make):
    make.user("alice")
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "nothing was changed" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/compose", {"recipients": "12345678", "content": "x", "enquiry_number": "12345678"}),
        (
            "/admin/users/create",
            {"username": "eve", "password": "long password", "confirm_password": "long password"},
        ),
        ("/admin/users/{bob}/toggle", {}),
        ("/admin/users/{bob}/delete", {}),
        (
            "/admin/users/{bob}/password",
            {"password": "long password 2", "confirm_password": "long password 2"},
        ),
        ("/admin/users/{bob}/regenerate_token", {}),
        ("/admin/dead-letter/retry-all", {}),
    ],
)
def test_posts_without_a_token_are_refused_and_change_nothing(app, client, make, path, data):
    make.user("boss", is_admin=True)
    bob = make.user("bob")
    log_in(client, "boss")
    for token in (None, "forged"):
        form = dict(data, **({"csrf_token": token} if token else {}))
        assert client.post(path.format(bob=bob.id), data=form).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0
        assert db.session.scalar(select(func.count()).select_from(User)) == 2
        stored = db.session.get(User, bob.id)
        assert stored.is_active and not stored.tokens
        assert check_password_hash(stored.password_hash, PASSWORD)


def test_posts_with_the_token_go_through(app, client, make):
    make.user("alice")
    log_in(client, "alice")
    token = csrf_token(client, "/compose")
    response = client.post(
        "/compose",
        data={
            "recipients": "12345678",
            "content": "x",
            "enquiry_number": "12345678",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302


def test_the_api_needs_no_csrf_token(client, make):
    make.user("alice")
    response = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    token = response.get_json()["data"]["access_token"]
    sent = client.post(
        "/api/sms",
        json={"recipient": "1234 5678", "content": "hi"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert sent.status_code == 202

"""Logging in and out; disabled users are kept out, even mid-session."""

from __future__ import annotations

import pytest

from smspanel.models import User, db
from tests.conftest import PASSWORD
from tests.web.conftest import login, page_text


def test_login_page_has_labelled_fields_and_a_csrf_token(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<label for="username">' in html and '<label for="password">' in html
    assert 'name="csrf_token"' in html


def test_a_valid_login_lands_on_the_dashboard_and_records_the_login_time(app, client, user):
    response = login(client, user.username)
    assert response.status_code == 302 and response.location == "/"
    assert "Dashboard" in page_text(client.get("/"))
    with app.app_context():
        assert db.session.get(User, user.id).last_login_at is not None


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong password"), ("nobody", PASSWORD), ("", ""), ("ALICE", PASSWORD)],
)
def test_a_failed_login_says_only_invalid_username_or_password(client, user, username, password):
    response = login(client, username, password)
    assert response.status_code == 401
    text = page_text(response)
    assert "invalid username or password" in text
    assert "disabled" not in text and "not found" not in text
    assert client.get("/").status_code == 302


def test_a_disabled_user_cannot_log_in_and_is_told_nothing_more(client, make):
    make.user("carol", active=False)
    response = login(client, "carol")
    assert response.status_code == 401
    assert "invalid username or password" in page_text(response)
    assert client.get("/").status_code == 302


def test_a_session_ends_on_the_next_request_after_the_user_is_disabled(app, user_client, user):
    assert user_client.get("/").status_code == 200
    with app.app_context():
        db.session.get(User, user.id).is_active = False
        db.session.commit()
    response = user_client.get("/")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_pages_need_a_login_and_come_back_after_it(client, user):
    response = client.get("/history")
    assert response.status_code == 302 and response.location.startswith("/login?next=")
    response = client.post(
        "/login?next=/history", data={"username": user.username, "password": PASSWORD}
    )
    assert response.location == "/history"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_login_never_redirects_off_site(client, user, target):
    response = client.post(
        f"/login?next={target}", data={"username": user.username, "password": PASSWORD}
    )
    assert response.location == "/"


def test_logout_ends_the_session(user_client):
    response = user_client.post("/logout")
    assert response.status_code == 302 and response.location == "/login"
    assert user_client.get("/").status_code == 302


def test_logout_by_get_works_too(user_client):
    assert user_client.get("/logout").status_code == 302
    assert user_client.get("/").status_code == 302


def test_session_cookie_is_http_only_and_same_site_lax(client, user):
    response = login(client, user.username)
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie

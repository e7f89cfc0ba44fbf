"""Logging out: the header's button and links from this site do it in one step; a GET that
another site started asks first, so no other site can log a user out."""

from __future__ import annotations

import pytest

from tests.web.conftest import page_text


def logged_in(client) -> bool:
    return client.get("/").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site", "Referer": "http://localhost/"},
        {"Origin": "https://evil.example"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "null"},
    ],
)
def test_a_get_from_another_site_asks_before_logging_out(user_client, headers):
    response = user_client.get("/logout", headers=headers)
    assert response.status_code == 200
    assert "Log out?" in page_text(response)
    body = response.get_data(as_text=True)
    assert 'method="post" action="/logout"' in body and 'name="csrf_token"' in body
    assert logged_in(user_client), "another site cannot log the user out"
    assert user_client.post("/logout").location == "/login"
    assert not logged_in(user_client)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Sec-Fetch-Site": "none"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "same-site"},
        {"Referer": "http://localhost/history"},
        {"Origin": "http://localhost"},
    ],
)
def test_a_typed_url_or_a_link_from_this_site_logs_out_in_one_step(user_client, headers):
    response = user_client.get("/logout", headers=headers)
    assert response.status_code == 302 and response.location == "/login"
    assert not logged_in(user_client)


def test_the_confirmation_is_in_chinese_too(user_client):
    user_client.get("/lang/zh-Hant?next=/")
    response = user_client.get("/logout", headers={"Sec-Fetch-Site": "cross-site"})
    text = page_text(response)
    assert "要登出嗎？" in text and "另一個網站把你帶到登出頁面" in text


def test_a_cross_site_get_when_logged_out_just_goes_to_the_login(client):
    response = client.get("/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 302 and response.location == "/login"


def test_logout_by_post_needs_the_csrf_token(app, user_client):
    app.config["WTF_CSRF_ENABLED"] = True
    response = user_client.post("/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 400
    app.config["WTF_CSRF_ENABLED"] = False
    assert logged_in(user_client)

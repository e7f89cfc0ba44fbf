"""After login, `next` may only lead to a page of this site: never off-site, never a 500."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import PASSWORD

HOSTILE = [
    "//evil.example",
    "///evil.example",
    "https://evil.example",
    "http:evil.example",
    "HTTPS://evil.example/login",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",  # browsers drop tabs and newlines: this would become //evil.example
    "/\n/evil.example",
    " //evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "/\r\nSet-Cookie: session=stolen",  # header injection
    "/\x00/evil.example",
]


def log_in_with_next(client, next_value: str):
    return client.post(
        f"/login?next={quote(next_value, safe='')}",
        data={"username": "alice", "password": PASSWORD},
    )


@pytest.mark.parametrize("next_value", HOSTILE)
def test_a_hostile_next_is_ignored_and_the_login_lands_on_the_dashboard(client, user, next_value):
    response = log_in_with_next(client, next_value)
    assert response.status_code == 302
    assert response.location == "/"


@pytest.mark.parametrize(
    "next_value", ["/history", "/history?status=failed&search=road", "/compose", "/history/7"]
)
def test_a_path_on_this_site_is_followed(client, user, next_value):
    response = log_in_with_next(client, next_value)
    assert response.status_code == 302
    assert response.location == next_value


def test_a_page_that_asked_for_login_is_returned_to_afterwards(client, user):
    to_login = client.get("/history?status=failed")
    assert urlsplit(to_login.location).path == "/login"
    response = client.post(to_login.location, data={"username": "alice", "password": PASSWORD})
    assert response.location == "/history?status=failed"

"""The Host header is the client's to choose: no redirect names it, and with TRUSTED_HOSTS
set, a foreign one is a 400."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.web.conftest import login

FOREIGN = "http://evil.example"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/admin//users", 308),
        ("GET", "//login", 308),
        ("GET", "/history//1", 308),
        ("POST", "/api//auth/login", 308),
        ("GET", "/", 302),
        ("GET", "/lang/en?next=/history", 302),
        ("GET", "/logout", 302),
    ],
)
def test_no_redirect_names_the_host_the_client_claimed(client, method, path, status):
    response = client.open(path, method=method, base_url=FOREIGN, json={})
    assert response.status_code == status
    location = response.headers["Location"]
    assert "evil.example" not in location
    assert location.startswith("/") and not location.startswith("//")


def test_a_merged_slash_keeps_its_path_and_query(client):
    response = client.get("/admin//users?page=2", base_url=FOREIGN)
    assert response.headers["Location"] == "/admin/users?page=2"


def test_redirects_after_a_login_name_no_host_either(client, make):
    make.user("alice")
    response = client.post(
        "/login?next=/history",
        data={"username": "alice", "password": PASSWORD},
        base_url=FOREIGN,
    )
    assert response.status_code == 302 and response.headers["Location"] == "/history"


def test_with_trusted_hosts_a_foreign_host_is_a_400(app, client, make):
    app.config["TRUSTED_HOSTS"] = ["sms.example.gov.hk"]
    make.user("alice")
    for path in ("/login", "/admin//users", "/api/health"):
        assert client.get(path, base_url=FOREIGN).status_code == 400, path
    api = client.get("/api/sms", base_url=FOREIGN).get_json()
    assert api["error"]["code"] == "UNTRUSTED_HOST"
    trusted = "https://sms.example.gov.hk"
    assert client.get("/login", base_url=trusted).status_code == 200
    assert login_via(client, trusted).status_code == 302


def login_via(client, base_url: str):
    return client.post(
        "/login", data={"username": "alice", "password": PASSWORD}, base_url=base_url
    )


def test_without_trusted_hosts_any_host_is_served(client, make):
    make.user("alice")
    assert client.get("/login", base_url=FOREIGN).status_code == 200
    assert login(client, "alice").status_code == 302


def test_a_relative_location_never_becomes_a_host():
    from smspanel.hosts import relative_location

    assert (
        relative_location("http://sms.example//evil.example/x", "sms.example") == "/evil.example/x"
    )
    assert relative_location("http://sms.example", "sms.example") == "/"
    assert relative_location("https://other.example/a", "sms.example") == "https://other.example/a"

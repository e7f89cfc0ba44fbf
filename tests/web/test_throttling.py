"""Login throttling: too many failures for one account or one address answer 429."""

import pytest

from tests.conftest import PASSWORD
from tests.web.conftest import login


def api_login(client, username, password):
    return client.post("/api/auth/login", json={"username": username, "password": password})


@pytest.mark.parametrize("attempt", [login, api_login])
def test_an_account_is_locked_for_a_while_after_ten_failures(client, make, attempt):
    make.user("alice")
    make.user("bob")
    for _ in range(10):
        assert attempt(client, "alice", "wrong password!").status_code == 401
    refused = attempt(client, "alice", PASSWORD)  # even the right password, for now
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    if refused.is_json:
        assert refused.get_json()["error"]["code"] == "TOO_MANY_REQUESTS"
    assert attempt(client, "bob", PASSWORD).status_code in (200, 302)  # others unaffected


def test_successful_logins_are_not_counted(client, make):
    make.user("alice")
    for _ in range(15):
        assert api_login(client, "alice", PASSWORD).status_code == 200


def test_one_address_trying_many_accounts_is_stopped(app, client):
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = "5 per minute"
    for n in range(5):
        assert api_login(client, f"guess{n}", "wrong password!").status_code == 401
    assert api_login(client, "guess99", "wrong password!").status_code == 429

"""Login throttling: one count of failures per account and one per address, whichever form
(web or API) and body encoding a guess comes in; a full account stays open to its owner
from an address with no recent failures."""

import json

import pytest

from tests.conftest import PASSWORD
from tests.web.conftest import login
from tests.web.test_two_factor import code_step, enrolled_user

ATTACKER = {"REMOTE_ADDR": "192.0.2.66"}
OWNER = {"REMOTE_ADDR": "203.0.113.7"}
TEST_CLIENT = {"REMOTE_ADDR": "127.0.0.1"}  # the test client's own address


def api_login(client, username, password, address=ATTACKER):
    return client.post(
        "/api/auth/login",
        json={"username": username, "password": password},
        environ_base=address,
    )


def web_login(client, username, password, address=ATTACKER):
    return client.post(
        "/login", data={"username": username, "password": password}, environ_base=address
    )


def web_multipart(client, username, password, address=ATTACKER):
    return client.post(
        "/login",
        data={"username": username, "password": password},
        content_type="multipart/form-data",
        environ_base=address,
    )


def web_json(client, username, password, address=ATTACKER):
    return client.post(
        "/login", json={"username": username, "password": password}, environ_base=address
    )


def api_text_plain(client, username, password, address=ATTACKER):
    """The API reads a JSON body whatever its Content-Type; so does the throttle."""
    body = json.dumps({"username": username, "password": password})
    return client.post(
        "/api/auth/login", data=body, content_type="text/plain", environ_base=address
    )


ATTEMPTS = [api_login, web_login, web_multipart, web_json, api_text_plain]


@pytest.mark.parametrize("attempt", [web_login, api_login])
def test_an_account_is_locked_for_a_while_after_ten_failures(client, make, attempt):
    make.user("alice")
    make.user("bob")
    for _ in range(10):
        assert attempt(client, "alice", "wrong password!").status_code == 401
    refused = attempt(client, "alice", PASSWORD)  # from the guessing address: not even this
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    if refused.is_json:
        assert refused.get_json()["error"]["code"] == "TOO_MANY_REQUESTS"
    assert attempt(client, "bob", PASSWORD).status_code in (200, 302)  # others unaffected


def test_the_web_form_and_the_api_share_one_count(client, make):
    make.user("alice")
    for n in range(10):
        attempt = ATTEMPTS[n % len(ATTEMPTS)]
        assert attempt(client, "alice", "wrong password!").status_code == 401, attempt.__name__
    for attempt in ATTEMPTS:
        assert attempt(client, "alice", PASSWORD).status_code == 429, attempt.__name__


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_every_body_encoding_counts_for_the_account_it_names(client, make, attempt):
    """Not one count for all bodies the throttle could not read: alice's failures are hers."""
    make.user("alice")
    make.user("bob")
    for _ in range(10):
        assert attempt(client, "alice", "wrong password!").status_code == 401
    assert attempt(client, "alice", PASSWORD).status_code == 429
    assert attempt(client, "bob", PASSWORD).status_code in (200, 302)


def test_the_account_name_is_counted_case_folded_and_trimmed(client, make):
    make.user("alice")
    for name in ["alice", "Alice", " ALICE ", "alice\t"] * 2 + ["aLiCe", "alicE"]:
        assert api_login(client, name, "wrong password!").status_code == 401
    assert api_login(client, "alice", PASSWORD).status_code == 429


def test_successful_logins_are_not_counted(client, make):
    make.user("alice")
    for _ in range(15):
        assert api_login(client, "alice", PASSWORD).status_code == 200
        assert web_login(client, "alice", PASSWORD).status_code == 302
        client.post("/logout")


def test_one_address_trying_many_accounts_is_stopped(app, client, make):
    make.user("bob")
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = "5 per minute"
    for n in range(5):
        assert api_login(client, f"guess{n}", "wrong password!").status_code == 401
    assert api_login(client, "guess99", "wrong password!").status_code == 429
    assert web_login(client, "bob", PASSWORD).status_code == 429  # the address, every form
    assert web_login(client, "bob", PASSWORD, address=OWNER).status_code == 302


@pytest.mark.parametrize("attempt", [web_login, api_login])
def test_the_owner_gets_in_while_someone_else_has_filled_the_count(client, make, attempt):
    make.user("alice")
    for _ in range(10):
        assert attempt(client, "alice", "wrong password!").status_code == 401
    assert attempt(client, "alice", PASSWORD).status_code == 429
    assert attempt(client, "alice", PASSWORD, address=OWNER).status_code in (200, 302)


def test_guessing_from_many_addresses_stays_bounded(client, make):
    """Ten guesses from one address, then one from each fresh address up to twenty in
    all; after that the account is shut for the window, even to the owner."""
    make.user("alice")
    addresses = [{"REMOTE_ADDR": f"198.51.100.{n}"} for n in range(1, 41)]
    statuses = [api_login(client, "alice", "wrong password!").status_code for _ in range(10)]
    statuses += [api_login(client, "alice", "wrong", address=a).status_code for a in addresses]
    statuses += [web_login(client, "alice", "wrong", address=a).status_code for a in addresses]
    assert statuses.count(401) == 20
    assert set(statuses[30:]) == {429}
    assert api_login(client, "alice", PASSWORD, address=OWNER).status_code == 429


def test_code_step_failures_have_their_own_account_count(client, make):
    """The code step is reached only with the right password, so its wrong codes do not
    shut the password form (nor the other way round); the address count is shared."""
    make.user("alice")
    enrolled_user(client, "alice")
    login(client, "alice")
    for _ in range(10):
        assert code_step(client, "999999x").status_code == 401
    assert code_step(client, "999999x").status_code == 429
    assert api_login(client, "alice", PASSWORD, address=TEST_CLIENT).status_code == 200


def test_every_form_shares_the_address_count(app, client, make):
    make.user("alice")
    enrolled_user(client, "alice")
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = "6 per minute"
    login(client, "alice")  # a success: not counted
    for _ in range(3):
        assert code_step(client, "999999x").status_code == 401
    for _ in range(3):
        assert login(client, "nobody", "wrong").status_code == 401
    assert api_login(client, "alice", PASSWORD, address=TEST_CLIENT).status_code == 429

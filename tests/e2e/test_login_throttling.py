"""Login throttling across `gunicorn -w 4`: without Redis the counts are in the database, so
every worker, the web form and the API share one count per account and per address."""

import json
import re
import socket
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from threading import Barrier

import pytest
from sqlalchemy import make_url

from loopback import ADMIN_PASSWORD, App

pytestmark = pytest.mark.e2e

WORKERS = 4
LIMIT = 10
GUESSES = 60  # six times the limit, all at once


class Client:
    """One keep-alive connection with its own session cookie, like one browser or script."""

    def __init__(self, app: App) -> None:
        self.connection = HTTPConnection("127.0.0.1", app.port, timeout=60)
        self.cookie = ""

    def send(self, method: str, path: str, body: bytes | None = None, kind: str = ""):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if kind:
            headers["Content-Type"] = kind
        self.connection.request(method, path, body, headers)
        response = self.connection.getresponse()
        page = response.read()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            if cookie.startswith("session="):
                self.cookie = cookie.split(";", 1)[0]
        return response.status, page

    def login_request(self, via: str, username: str, password: str) -> tuple[str, bytes, str]:
        """The POST a browser (`web`, after opening the page) or a script (`api`) sends."""
        if via == "web":
            page = self.send("GET", "/login")[1]
            token = re.search(rb'name="csrf_token" value="([^"]+)"', page)
            assert token, "the login page has a CSRF token"
            fields = {"csrf_token": token.group(1).decode(), "username": username,
                      "password": password}  # fmt: skip
            body = urllib.parse.urlencode(fields).encode()
            return "/login", body, "application/x-www-form-urlencoded"
        body = json.dumps({"username": username, "password": password}).encode()
        return "/api/auth/login", body, "application/json"

    def guess(self, via: str, username: str, password: str) -> int:
        return self.send("POST", *self.login_request(via, username, password))[0]


def concurrent_guesses(app: App, account: str, count: int) -> list[int]:
    """`count` wrong passwords at once, half through the web form and half through the API,
    each on its own connection (so gunicorn's workers share them out)."""
    clients = [Client(app) for _ in range(count)]
    requests = [
        client.login_request("web" if n % 2 else "api", account, "wrong password!")
        for n, client in enumerate(clients)
    ]
    start = Barrier(count)

    def attempt(n: int) -> int:
        start.wait()
        return clients[n].send("POST", *requests[n])[0]

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(attempt, range(count)))


def workers_booted(app: App) -> int:
    """How many worker processes gunicorn started (it logs each boot)."""
    return len(set(re.findall(r"Booting worker with pid: (\d+)", app.output)))


@pytest.mark.parametrize("storage", ["database", "redis"])
def test_failed_logins_are_counted_once_across_workers_web_and_api(
    tmp_path, fresh_database, storage
):
    if storage == "redis" and not redis_reachable():
        pytest.skip("the Redis variant needs Redis on 127.0.0.1:6379")
    settings = {
        "DATABASE_URL": fresh_database,
        "LOGIN_LIMIT_PER_ACCOUNT": f"{LIMIT} per 15 minutes",
        "LOGIN_LIMIT_PER_ADDRESS": "1000 per minute",  # the account's limit is under test
    }
    if storage == "redis":
        settings["RATELIMIT_STORAGE_URI"] = "redis://127.0.0.1:6379/15"
    app = App.gunicorn(tmp_path, None, WORKERS, **settings).start(timeout=90)
    try:
        # Redis outlives the test: a name of its own there. The database is new: the admin.
        account = f"nobody-{app.port}" if storage == "redis" else "SMSadmin"
        statuses = concurrent_guesses(app, account, GUESSES)
        failed, refused = statuses.count(401), statuses.count(429)
        again = [Client(app).guess(via, account, "wrong") for via in ("web", "api")]
        dialect = make_url(fresh_database).get_dialect().name
        print(
            f"\nlogin throttle, gunicorn -w {WORKERS}, {storage} counts on "
            f"{dialect}: {GUESSES} concurrent wrong passwords for one account "
            f"(web+API) -> {failed} checked (401), {refused} refused (429); limit {LIMIT}"
        )
        assert workers_booted(app) == WORKERS
        assert failed + refused == GUESSES, statuses
        assert LIMIT - 1 <= failed <= LIMIT + 1
        assert again == [429, 429]
    finally:
        app.stop()


def test_the_owner_gets_in_from_another_address_while_the_count_is_full(tmp_path, fresh_database):
    """The guesses come from 127.0.0.1; the owner logs in over 127.0.0.2 (same loopback)."""
    app = App.gunicorn(
        tmp_path, None, WORKERS, DATABASE_URL=fresh_database, LOGIN_LIMIT_PER_ACCOUNT="5 per hour"
    ).start(timeout=90)
    try:
        statuses = concurrent_guesses(app, "SMSadmin", 20)
        assert statuses.count(401) == 5
        assert (
            app.api("POST", "/api/auth/login", {"username": "SMSadmin", "password": "x"})[0] == 429
        )
        owner = HTTPConnection("127.0.0.1", app.port, timeout=30, source_address=("127.0.0.2", 0))
        body = json.dumps({"username": "SMSadmin", "password": ADMIN_PASSWORD})
        owner.request("POST", "/api/auth/login", body, {"Content-Type": "application/json"})
        assert owner.getresponse().status == 200
    finally:
        app.stop()


def redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False

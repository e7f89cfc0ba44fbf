"""The do-not-call register imported through the web under gunicorn, while a send is made:
the upload answers at once, the send is accepted and delivered meanwhile, and the page
follows the load to the new copy."""

from __future__ import annotations

import random
import re
import time

import pytest
from sqlalchemy import create_engine, text

from loopback import ADMIN_PASSWORD, App, MockGateway, wait_until
from tests.e2e.test_uploads import Browserish, multipart

pytestmark = pytest.mark.e2e

NUMBERS = 50_000  # enough to take a while; the 2,000,000 figure is `make bench`'s


def active_copy(database_url: str) -> tuple[int, int] | None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT id, number_count FROM dnc_imports WHERE status = 'active'")
            ).first()
            return (int(row[0]), int(row[1])) if row else None
    finally:
        engine.dispose()


def test_a_register_upload_loads_in_the_background_while_sends_go_on(tmp_path):
    mock = MockGateway(tmp_path).start()
    app = App.gunicorn(tmp_path, mock.url).start(60)
    try:
        client = Browserish(app)
        login = f"csrf_token={client.token('/login')}&username=SMSadmin&password={ADMIN_PASSWORD}"
        status, _ = client.send(
            "POST", "/login", login.replace(" ", "+").encode(), "application/x-www-form-urlencoded"
        )
        assert status == 302
        numbers = random.Random(12).sample(range(50_000_000, 100_000_000), NUMBERS)
        register = ("Telephone\n" + "\n".join(map(str, numbers)) + "\n").encode()
        body, content_type = multipart(
            {"csrf_token": client.token("/admin/dnc")}, "dnc_register.txt", register
        )
        started = time.monotonic()
        status, _ = client.send("POST", "/admin/dnc", body, content_type)
        assert status == 302
        assert time.monotonic() - started < 25  # checked in the request, loaded after it

        token = app.token()
        sent_at = time.monotonic()
        status, answer = app.api(
            "POST", "/api/sms", {"recipient": "9123 4567", "content": "meanwhile"}, token
        )
        assert status == 202, answer
        assert time.monotonic() - sent_at < 5
        wait_until(lambda: mock.received()["total"] >= 1, 30, what="the send to be delivered")

        copy = wait_until(lambda: active_copy(app.database_url), 120, 0.2, "the new copy")
        assert copy[1] == NUMBERS
        status, page = client.send("GET", "/admin/dnc")
        assert status == 200
        assert re.search(rb"data-number-count>50,000<", page)
        assert b"Import in progress" not in page
    finally:
        app.stop()
        mock.stop()

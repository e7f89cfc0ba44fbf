"""Throttling holds across gunicorn workers when the counts are kept in Redis."""

import socket

import pytest

from loopback import App

pytestmark = pytest.mark.e2e


def redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not redis_reachable(), reason="needs Redis on 127.0.0.1:6379")
def test_failed_logins_are_counted_across_workers(tmp_path, fresh_database):
    app = App.gunicorn(
        tmp_path,
        None,
        3,
        DATABASE_URL=fresh_database,
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/15",
        LOGIN_LIMIT_PER_ACCOUNT="4 per minute",
    ).start(timeout=60)
    try:
        account = f"nobody-{app.port}"  # a fresh counter in the shared store
        statuses = [
            app.api("POST", "/api/auth/login", {"username": account, "password": "wrong guess"})[0]
            for _ in range(6)
        ]
        assert statuses[:4] == [401] * 4
        assert statuses[4:] == [429, 429]
    finally:
        app.stop()

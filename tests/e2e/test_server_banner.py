"""The README's gunicorn command names no server software in its answers (gunicorn.conf.py)."""

from __future__ import annotations

from loopback import App, http_with_headers


def test_gunicorn_answers_carry_no_server_banner(tmp_path):
    app = App.gunicorn(tmp_path, None, 1).start(timeout=60)
    try:
        for path in ("/health/live", "/login", "/api/sms", "/no-such-page"):
            status, _body, headers = http_with_headers("GET", f"{app.base}{path}")
            assert status in {200, 401, 404}, path
            assert headers.get("Server") is None, (path, headers.get("Server"))
    finally:
        assert app.stop() == 0

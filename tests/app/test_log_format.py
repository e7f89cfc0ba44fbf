"""One log record is one line: nothing a user types can forge a log line or drive a terminal."""

from __future__ import annotations

import logging
import re
import sys

import pytest

from loopback import App, http
from smspanel.log_format import PoolErrorsInOneLine, SingleLineFormatter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")


def record(message: str, *args: object, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("smspanel.web", logging.WARNING, __file__, 1, message, args, exc_info)


@pytest.mark.parametrize(
    ("typed", "logged"),
    [
        ("x\nFAKE LINE", "x\\nFAKE LINE"),
        (
            "x\r\n2026-01-01 00:00:00,000 INFO smspanel: FAKE",
            "x\\r\\n2026-01-01 00:00:00,000 INFO smspanel: FAKE",
        ),
        ("x\rFAKE", "x\\rFAKE"),
        ("x\u2028FAKE", "x\\u2028FAKE"),  # a line break to many log viewers
        ("x\x85FAKE", "x\\x85FAKE"),  # NEL
        ("x\x1b[2J\x1b[1;1HFAKE", "x\\x1b[2J\\x1b[1;1HFAKE"),  # clear screen: escaped, not obeyed
        ("x\x1b[8mhidden\x1b[0m", "xhidden"),  # colour codes are dropped, so nothing hides
        ("x\x00\x08\tFAKE", "x\\x00\\x08\\tFAKE"),
        ("陳大文 ok", "陳大文 ok"),  # ordinary non-ASCII text is left as typed
    ],
)
def test_typed_text_stays_on_the_line_of_its_record(typed, logged):
    line = SingleLineFormatter(FORMAT).format(record("login failed for username %s", typed))
    assert len(line.splitlines()) == 1
    assert STAMPED.match(line)
    assert line.endswith(f"login failed for username {logged}")


def test_the_message_is_escaped_but_its_traceback_keeps_its_lines():
    try:
        raise ValueError("boom")
    except ValueError:
        failure = record("unhandled error on GET %s", "/x\nFAKE", exc_info=sys.exc_info())
    first, *traceback = SingleLineFormatter(FORMAT).format(failure).splitlines()
    assert first.endswith("unhandled error on GET /x\\nFAKE")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: boom"


@pytest.mark.e2e
def test_the_served_app_logs_a_forged_request_on_one_line(tmp_path):
    """`python run.py`: werkzeug's request log goes through the same one-line handler."""
    app = App(tmp_path, None).start()
    try:
        status, _ = http("GET", f"{app.base}/nope%0aFAKE%20LINE%e2%80%a8FAKE%20TOO")
        assert status == 404
        status, _ = app.api("POST", "/api/auth/login", {"username": "x\nFAKE", "password": "y"})
        assert status == 401
    finally:
        app.stop()
    lines = app.output.splitlines()
    request_lines = [line for line in lines if "/nope" in line]
    assert len(request_lines) == 1 and STAMPED.match(request_lines[0])
    assert "/nope%0aFAKE%20LINE\\u2028FAKE%20TOO " in request_lines[0]
    assert not [line for line in lines if line.startswith("FAKE")]
    assert "\x1b" not in app.output  # werkzeug's colour codes don't reach the log either


def test_a_connection_the_pool_cannot_reset_is_one_line_with_its_error():
    """During a database outage the pool's reset failures say what failed, without a traceback;
    every other logger keeps its tracebacks."""
    try:
        raise ConnectionError("Lost connection to MySQL server during query")
    except ConnectionError:
        lost = sys.exc_info()
    pool_record = record("Exception during reset or similar", exc_info=lost)
    pool_record.name = "sqlalchemy.pool.impl.QueuePool"
    other_record = record("unhandled error", exc_info=lost)
    for each in (pool_record, other_record):
        PoolErrorsInOneLine().filter(each)
    pool_line = SingleLineFormatter(FORMAT).format(pool_record)
    assert pool_line.splitlines() == [pool_line]
    assert pool_line.endswith(
        "Exception during reset or similar: "
        "ConnectionError('Lost connection to MySQL server during query')"
    )
    assert "Traceback" in SingleLineFormatter(FORMAT).format(other_record)

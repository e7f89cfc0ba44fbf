"""End to end: the real app and the mock gateway as processes, talking HTTP on loopback."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from loopback import ROOT, App, MockGateway, wait_until
from tests.databases import query

pytestmark = pytest.mark.e2e


def wait_final(app, token, message_id, timeout=30.0):
    def final():
        _, body = app.api("GET", f"/api/sms/{message_id}", token=token)
        return body["data"] if body["data"]["status"] != "pending" else None

    return wait_until(final, timeout, what=f"message {message_id} to finish")


def test_single_and_bulk_sends_reach_the_gateway_once_each_with_the_right_fields(app_process, mock):
    token = app_process.token()
    content = "停水通知 Water off 10:00–14:00 😀"
    status, single = app_process.api(
        "POST", "/api/sms", {"recipient": "9123 4567", "content": content}, token
    )
    assert status == 202
    numbers = [f"5{n:07d}" for n in range(200)]
    status, bulk = app_process.api(
        "POST",
        "/api/sms/send-bulk",
        {"recipients": [*numbers, numbers[0]], "content": "Bulk"},
        token,
    )
    assert status == 202 and bulk["data"]["recipient_count"] == 200

    assert wait_final(app_process, token, single["data"]["id"])["status"] == "sent"
    done = wait_final(app_process, token, bulk["data"]["id"])
    assert (done["status"], done["success_count"], done["pending_count"]) == ("sent", 200, 0)

    received = mock.received(messages=True)
    assert received["total"] == 201
    assert received["by_number"] == {"85291234567": 1, **{f"852{n}": 1 for n in numbers}}
    [first] = [m for m in received["messages"] if m["mrt"] == "85291234567"]
    del first["arrived_at"], first["received_at"]
    assert first == {
        "application": "e2e-app",
        "mrt": "85291234567",
        "sender": "18001234",
        "msg_utf8": content,
        "accepted": "true",
    }
    status, recipients = app_process.api(
        "GET", f"/api/sms/{single['data']['id']}/recipients", token=token
    )
    [row] = recipients["data"]["recipients"]
    assert (row["phone"], row["status"], row["attempts"]) == ("91234567", "sent", 1)
    assert row["sent_at"].endswith("+08:00")


def test_a_gateway_401_fails_the_recipient_and_writes_a_dead_letter(app_process):
    token = app_process.token()
    _, sent = app_process.api(
        "POST", "/api/sms", {"recipient": "91234567", "content": "this has an error"}, token
    )
    done = wait_final(app_process, token, sent["data"]["id"])
    assert (done["status"], done["failed_count"]) == ("failed", 1)
    _, recipients = app_process.api("GET", f"/api/sms/{sent['data']['id']}/recipients", token=token)
    [row] = recipients["data"]["recipients"]
    assert row["status"] == "failed" and "401" in row["error_message"] and row["attempts"] == 1
    assert query(app_process.database_url, "SELECT status, error_type FROM dead_letters") == [
        ("pending", "http_401")
    ]


def test_a_gateway_that_is_down_is_retried_then_failed(tmp_path, fresh_database):
    closed_port_url = "http://127.0.0.1:9/gateway/gateway.jsp"
    app = App(tmp_path, closed_port_url, DATABASE_URL=fresh_database).start()
    try:
        token = app.token()
        _, sent = app.api("POST", "/api/sms", {"recipient": "91234567", "content": "Hi"}, token)
        done = wait_final(app, token, sent["data"]["id"], timeout=30)  # backoff 2 s + 4 s
        assert done["status"] == "failed"
        _, recipients = app.api("GET", f"/api/sms/{sent['data']['id']}/recipients", token=token)
        [row] = recipients["data"]["recipients"]
        assert row["attempts"] == 3 and "gave up after 3 attempts" in row["error_message"]
    finally:
        app.stop()


def test_sigkill_during_a_bulk_send_loses_no_recipient(tmp_path, fresh_database):
    mock = MockGateway(tmp_path, "--latency-ms", "20").start()
    settings = {
        "SMS_CLAIM_LEASE_SECONDS": "2",
        "SMS_WORKER_CONCURRENCY": "4",
        "DATABASE_URL": fresh_database,
    }
    app = App(tmp_path, mock.url, **settings).start()
    try:
        token = app.token()
        numbers = [f"6{n:07d}" for n in range(1000)]
        _, sent = app.api(
            "POST", "/api/sms/send-bulk", {"recipients": numbers, "content": "Kill test"}, token
        )
        message_id = sent["data"]["id"]
        wait_until(lambda: mock.received()["total"] >= 100, 30, what="some deliveries")
        app.kill()
        delivered_before_restart = mock.received()["total"]
        assert delivered_before_restart < 1000, "the send finished before the kill"

        app = App(tmp_path, mock.url, **settings).start()
        done = wait_final(app, token, message_id, timeout=120)
        assert (done["status"], done["success_count"]) == ("sent", 1000)
        by_number = mock.received()["by_number"]
        assert set(by_number) == {f"852{n}" for n in numbers}
        duplicates = sum(count - 1 for count in by_number.values())
        print(f"duplicates after SIGKILL: {duplicates}")
        # Only jobs not yet finished in the database can repeat: the requests on the wire (4),
        # results waiting to be written and the batch being committed, which on a busy
        # machine is a few batches' worth (as in test_scale_out).
        assert duplicates <= 5 * 4, f"{duplicates} duplicates"
    finally:
        app.stop()
        mock.stop()


def test_gunicorn_with_four_workers_on_an_empty_database(tmp_path, mock, fresh_database):
    app = App.gunicorn(tmp_path, mock.url, 4, DATABASE_URL=fresh_database).start(timeout=60)
    try:
        token = app.token()
        _, sent = app.api(
            "POST",
            "/api/sms/send-bulk",
            {"recipients": [f"7{n:07d}" for n in range(100)], "content": "g"},
            token,
        )
        assert wait_final(app, token, sent["data"]["id"])["status"] == "sent"
        assert mock.received()["total"] == 100
    finally:
        assert app.stop() == 0
    log = app.output
    assert "Traceback" not in log and "Error" not in log, log
    assert log.count("Running upgrade  -> ") == 1, log  # migrated from empty once
    assert query(fresh_database, "SELECT count(*) FROM users WHERE username='SMSadmin'") == [(1,)]


def test_production_refuses_to_start_with_one_line_naming_the_setting(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        env={
            "PATH": "/usr/bin:/bin",
            "FLASK_ENV": "production",
            "SMSPANEL_INSTANCE_PATH": str(tmp_path / "instance"),
        },
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "smspanel: configuration error: SECRET_KEY is not set (production needs at least 32 "
        "characters)"
    ]


def test_dedicated_worker_delivers_and_stops_cleanly_on_sigterm(tmp_path, mock, fresh_database):
    app = App(tmp_path, mock.url, SMS_IN_APP_DISPATCHER="false", DATABASE_URL=fresh_database)
    app.start()
    worker = app.worker()
    try:
        token = app.token()
        _, sent = app.api("POST", "/api/sms", {"recipient": "91234567", "content": "w"}, token)
        with pytest.raises(TimeoutError):  # nothing delivers without a dispatcher
            wait_final(app, token, sent["data"]["id"], timeout=1.5)
        worker.start()
        assert wait_final(app, token, sent["data"]["id"])["status"] == "sent"
        worker.signal(signal.SIGTERM)
        assert worker.proc.wait(30) == 0
        assert "stopped after 1 results" in worker.output
    finally:
        worker.stop()
        app.stop()

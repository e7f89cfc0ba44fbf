"""End to end, real processes on loopback: a scheduled send survives a restart, and a cancel
stops a send that three dispatcher processes are delivering.

Runs on whichever database the suite targets (TEST_DATABASE_URL: MariaDB, PostgreSQL; else
SQLite). Prints one JSON line per figure for the closing notes.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from loopback import App, MockGateway, wait_until
from tests.databases import as_datetime, execute, query, server_dialect

pytestmark = pytest.mark.e2e

DISPATCHERS, CONCURRENCY = 3, 8


def message(app: App, token: str, message_id: int) -> dict:
    status, body = app.api("GET", f"/api/sms/{message_id}", token=token)
    assert status == 200, body
    return body["data"]


def wait_status(app: App, token: str, message_id: int, wanted: set[str], timeout: float):
    return wait_until(
        lambda: (data := message(app, token, message_id))["status"] in wanted and data,
        timeout,
        0.1,
        f"message {message_id} to be {' or '.join(sorted(wanted))}",
    )


def test_a_schedule_missed_while_everything_was_down_is_sent_on_start_and_late(
    tmp_path, fresh_database
):
    mock = MockGateway(tmp_path).start()
    app = App(tmp_path, mock.url, DATABASE_URL=fresh_database).start()
    try:
        token = app.token()
        in_ten_minutes = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
        in_a_day = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        ids = {}
        for name, at in (("due", in_ten_minutes), ("later", in_a_day)):
            body = {"recipients": ["91234567", "98765432"], "content": name, "scheduled_at": at}
            status, sent = app.api("POST", "/api/sms/send-bulk", body, token)
            assert (status, sent["data"]["status"]) == (202, "scheduled"), sent
            ids[name] = sent["data"]["id"]
        time.sleep(1.0)  # several polls of the dispatcher: nothing is due yet
        assert mock.received()["total"] == 0
        assert app.stop() == 0

        # Every process is down when its time comes: five minutes ago.
        # Naive UTC, as stored; with microseconds, so SQLite's text form matches the app's.
        missed = (datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None, microsecond=1)
        for sql in (
            "UPDATE messages SET scheduled_at = :at WHERE id = :id",
            "UPDATE recipients SET next_attempt_at = :at WHERE message_id = :id",
        ):
            execute(fresh_database, sql, at=missed, id=ids["due"])

        app = App(tmp_path, mock.url, DATABASE_URL=fresh_database).start()
        done = wait_status(app, token, ids["due"], {"sent"}, 20)
        assert (done["success_count"], done["pending_count"]) == (2, 0)
        assert mock.received()["by_number"] == {"85291234567": 1, "85298765432": 1}
        [(scheduled_at, started_at)] = query(
            fresh_database, "SELECT scheduled_at, started_at FROM messages WHERE id = :id",
            id=ids["due"],
        )  # fmt: skip
        late_by = as_datetime(started_at) - as_datetime(scheduled_at)
        assert timedelta(minutes=4) < late_by < timedelta(minutes=6), late_by  # shown late
        assert message(app, token, ids["later"])["status"] == "scheduled"  # still waiting
        assert mock.received()["total"] == 2
    finally:
        app.stop()
        mock.stop()


RECIPIENTS = 5_000
CANCEL_AFTER = 1_000


@pytest.fixture
def cluster(tmp_path, fresh_database):
    """gunicorn (no dispatcher of its own) and three `flask worker` processes, one database,
    a mock gateway that takes 10 ms to answer."""
    mock = MockGateway(tmp_path, "--latency-ms", "10").start()
    app = App.gunicorn(
        tmp_path,
        mock.url,
        2,
        DATABASE_URL=fresh_database,
        SMS_IN_APP_DISPATCHER="false",
        SMS_WORKER_CONCURRENCY=str(CONCURRENCY),
    ).start(timeout=60)
    workers = [app.worker(f"worker{n}").start() for n in range(DISPATCHERS)]
    yield app, mock, workers
    for process in (*workers, app, mock):
        process.stop()


def test_a_cancel_during_delivery_by_three_dispatchers_stops_every_unsent_recipient(
    cluster, fresh_database
):
    app, mock, workers = cluster
    token = app.token()
    numbers = [str(55_000_000 + n) for n in range(RECIPIENTS)]
    body = {"recipients": numbers, "content": "cancel me"}
    status, sent = app.api("POST", "/api/sms/send-bulk", body, token)
    assert status == 202, sent
    message_id = sent["data"]["id"]
    wait_until(lambda: mock.received()["total"] >= CANCEL_AFTER, 60, 0.02, "deliveries")

    asked = time.time()
    status, cancelled = app.api("POST", f"/api/sms/{message_id}/cancel", token=token)
    answered = time.time()
    assert status == 200, cancelled
    done = wait_status(app, token, message_id, {"cancelled"}, 30)
    time.sleep(1.0)  # room for any request that should not come

    received = mock.received(messages=True)
    requests = [m for m in received["messages"] if m["msg_utf8"] == "cancel me"]
    after_answer = [m for m in requests if float(m["arrived_at"]) > answered]
    assert after_answer == [], f"{len(after_answer)} request(s) reached the gateway after"
    on_the_wire = [m for m in requests if float(m["arrived_at"]) <= answered < float(
        m["received_at"])]  # fmt: skip
    # Each recipient sent at most once, and sent exactly when the gateway has it.
    assert set(received["by_number"].values()) == {1}
    assert done["success_count"] == len(requests) == received["total"]
    assert done["success_count"] + done["cancelled_count"] == RECIPIENTS
    assert (done["pending_count"], done["failed_count"]) == (0, 0)
    assert cancelled["data"]["cancelled_count"] == done["cancelled_count"]
    assert done["success_count"] >= CANCEL_AFTER
    statuses = query(
        fresh_database,
        "SELECT status, count(*) FROM recipients WHERE message_id = :id GROUP BY status",
        id=message_id,
    )
    assert dict(statuses) == {"sent": done["success_count"], "cancelled": done["cancelled_count"]}
    assert query(
        fresh_database, "SELECT count(*) FROM recipients WHERE claimed_by IS NOT NULL"
    ) == [(0,)]
    print(json.dumps({
        "figure": "e2e_cancel_answer_ms", "value": round((answered - asked) * 1000, 1),
        "unit": "ms", "db": server_dialect(), "dispatchers": DISPATCHERS,
        "sent_before": done["success_count"], "cancelled": done["cancelled_count"],
        "on_the_wire_at_answer": len(on_the_wire), "after_answer": len(after_answer),
    }))  # fmt: skip
    for worker in workers:
        assert "Traceback" not in worker.output, worker.output

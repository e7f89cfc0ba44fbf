"""Scale-out: gunicorn with 4 workers and 3 dedicated dispatchers on one shared database.

Runs on whichever database the suite targets (TEST_DATABASE_URL: MariaDB, PostgreSQL; else
SQLite). Prints one JSON line per figure for the closing notes.
"""

from __future__ import annotations

import json
import time

import pytest

from loopback import App, MockGateway, wait_until
from tests.databases import query, server_dialect

pytestmark = pytest.mark.e2e

SENDS, PER_SEND = 4, 2_000  # 8,000 recipients
DISPATCHERS, CONCURRENCY = 3, 8


def report(figure: str, value: float, unit: str, **extra: object) -> None:
    line = {"figure": figure, "value": round(value, 2), "unit": unit, "db": server_dialect()}
    extra = {"dispatchers": DISPATCHERS, "concurrency": CONCURRENCY, **extra}
    print(json.dumps({**line, **extra}))


def start_cluster(tmp_path, database, mock, **settings):
    app = App.gunicorn(
        tmp_path,
        mock.url,
        4,
        DATABASE_URL=database,
        SMS_IN_APP_DISPATCHER="false",
        SMS_WORKER_CONCURRENCY=str(CONCURRENCY),
        **settings,
    ).start(timeout=60)
    workers = [app.worker(f"worker{n}").start() for n in range(DISPATCHERS)]
    return app, workers


def queue_sends(app, token, first_number: int) -> list[int]:
    ids = []
    for n in range(SENDS):
        numbers = [str(first_number + n * PER_SEND + i) for i in range(PER_SEND)]
        status, body = app.api(
            "POST", "/api/sms/send-bulk", {"recipients": numbers, "content": f"scale {n}"}, token
        )
        assert status == 202, body
        ids.append(body["data"]["id"])
    return ids


def all_final(app, token, ids) -> bool:
    return all(
        app.api("GET", f"/api/sms/{i}", token=token)[1]["data"]["status"] != "pending" for i in ids
    )


def expected_numbers(first_number: int) -> set[str]:
    return {f"852{first_number + i}" for i in range(SENDS * PER_SEND)}


def stop_all(app, workers, mock):
    for process in (*workers, app, mock):
        process.stop()


def test_every_recipient_is_delivered_exactly_once(tmp_path, fresh_database):
    mock = MockGateway(tmp_path).start()
    app, workers = start_cluster(tmp_path, fresh_database, mock)
    try:
        token = app.token()
        started = time.monotonic()
        ids = queue_sends(app, token, 50_000_000)
        wait_until(lambda: all_final(app, token, ids), 300, 0.5, "all sends to finish")
        elapsed = time.monotonic() - started
        by_number = mock.received()["by_number"]
        assert set(by_number) == expected_numbers(50_000_000)
        assert set(by_number.values()) == {1}, "some number was sent twice"
        counts = query(
            fresh_database,
            "SELECT status, count(*), sum(sent_count) FROM messages GROUP BY status",
        )
        assert [(s, int(c), int(t)) for s, c, t in counts] == [("sent", SENDS, SENDS * PER_SEND)]
        assert query(
            fresh_database, "SELECT count(*) FROM recipients WHERE claimed_by IS NOT NULL"
        ) == [(0,)]
        rate = SENDS * PER_SEND / elapsed
        report("scale_out_throughput", rate, "recipients/s", seconds=round(elapsed, 1))
    finally:
        stop_all(app, workers, mock)


def test_a_dispatcher_killed_midway_loses_nothing(tmp_path, fresh_database):
    mock = MockGateway(tmp_path, "--latency-ms", "5").start()
    app, workers = start_cluster(tmp_path, fresh_database, mock, SMS_CLAIM_LEASE_SECONDS="3")
    try:
        token = app.token()
        ids = queue_sends(app, token, 60_000_000)
        wait_until(lambda: mock.received()["total"] >= 2_000, 120, 0.05, "a quarter delivered")
        workers[0].kill()
        wait_until(lambda: all_final(app, token, ids), 300, 0.5, "all sends to finish")
        by_number = mock.received()["by_number"]
        assert set(by_number) == expected_numbers(60_000_000), "a recipient was lost"
        duplicates = sum(count - 1 for count in by_number.values())
        report("duplicates_after_sigkill", duplicates, "SMS")
        # Only the killed dispatcher's jobs that were not finished in the database can repeat:
        # its requests on the wire (8), results waiting to be written (up to 10 ms of them)
        # and the batch being committed; at ~350/s per dispatcher, a few tens at most.
        assert duplicates <= 5 * CONCURRENCY
        assert query(fresh_database, "SELECT DISTINCT status FROM messages") == [("sent",)]
    finally:
        stop_all(app, workers, mock)


def test_the_rate_limit_holds_across_all_dispatchers(tmp_path, fresh_database):
    rate = 25
    mock = MockGateway(tmp_path).start()
    app, workers = start_cluster(tmp_path, fresh_database, mock, SMS_RATE_PER_SEC=str(rate))
    try:
        token = app.token()
        numbers = [str(70_000_000 + i) for i in range(250)]
        body = {"recipients": numbers, "content": "r"}
        _, body = app.api("POST", "/api/sms/send-bulk", body, token)
        wait_until(lambda: all_final(app, token, [body["data"]["id"]]), 60, 0.2, "rate-limited")
        times = sorted(float(m["received_at"]) for m in mock.received(messages=True)["messages"])
        measured = (len(times) - 1) / (times[-1] - times[0])
        report("shared_rate_limit", measured, "SMS/s", limit=rate)
        assert rate * 0.7 <= measured <= rate * 1.1
        # No burst either. Arrival times at the gateway carry the loaded machine's scheduling
        # jitter (a starved mock answers in bursts), so judge five-second windows, within 10%.
        assert max(sum(1 for t in times if s <= t < s + 5) for s in times) <= 5 * rate * 1.1
    finally:
        stop_all(app, workers, mock)

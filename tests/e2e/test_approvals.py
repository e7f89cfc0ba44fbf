"""End to end, real processes on loopback: a scheduled send that needs approval is held, is
approved, survives a restart of the app, and reaches the gateway at its time, not before.

Runs on whichever database the suite targets (TEST_DATABASE_URL: MariaDB, PostgreSQL; else
SQLite).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from loopback import ADMIN_PASSWORD, App, MockGateway, wait_until
from smspanel.models import Role
from smspanel.services.scheduling import started_late
from tests.databases import add_department, as_datetime, bring_due, query

pytestmark = pytest.mark.e2e

NUMBERS = ["91234567", "98765432"]


def message(app: App, token: str, message_id: int) -> dict:
    status, body = app.api("GET", f"/api/sms/{message_id}", token=token)
    assert status == 200, body
    return body["data"]


def test_an_approved_scheduled_send_survives_a_restart_and_goes_at_its_time(
    tmp_path, fresh_database
):
    mock = MockGateway(tmp_path).start()
    app = App(tmp_path, mock.url, DATABASE_URL=fresh_database).start()
    try:
        # The departments pages are not this test's subject.
        members = {"maker": Role.SENDER, "checker": Role.APPROVER}
        add_department(fresh_database, "Schools", 2, members, ADMIN_PASSWORD)
        maker = app.token("maker", ADMIN_PASSWORD)
        checker = app.token("checker", ADMIN_PASSWORD)
        at = (datetime.now(UTC) + timedelta(minutes=1, seconds=5)).isoformat()
        body = {"recipients": NUMBERS, "content": "Parents' evening moved", "scheduled_at": at}
        status, sent = app.api("POST", "/api/sms/send-bulk", body, maker)
        assert (status, sent["data"]["status"]) == (202, "awaiting_approval"), sent
        message_id = sent["data"]["id"]

        status, approved = app.api("POST", f"/api/sms/{message_id}/approve", None, checker)
        assert (status, approved["data"]["status"]) == (200, "scheduled"), approved
        assert approved["data"]["decided_by"] == "checker"
        assert app.stop() == 0

        app = App(tmp_path, mock.url, DATABASE_URL=fresh_database).start()
        assert message(app, maker, message_id)["status"] == "scheduled"  # the approval held
        # Its time comes two seconds from now.
        due = datetime.now(UTC) + timedelta(seconds=2)
        bring_due(fresh_database, message_id, due)
        time.sleep(1.0)  # ten polls of the dispatcher: not due yet
        assert mock.received()["total"] == 0

        done = wait_until(
            lambda: (m := message(app, maker, message_id))["status"] == "sent" and m,
            15,
            0.1,
            f"message {message_id} to be sent",
        )
        assert (done["success_count"], done["pending_count"]) == (2, 0)
        received = mock.received(messages=True)
        assert received["by_number"] == {f"852{n}": 1 for n in NUMBERS}
        assert all(float(m["arrived_at"]) >= due.timestamp() for m in received["messages"])
        [(started_at,)] = query(
            fresh_database, "SELECT started_at FROM messages WHERE id = :id", id=message_id
        )
        started = as_datetime(started_at).replace(tzinfo=UTC)  # stored naive UTC
        assert started >= due and not started_late(due, started)  # at its time, not late
    finally:
        app.stop()
        mock.stop()

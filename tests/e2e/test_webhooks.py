"""End to end: the app, the mock gateway and a real webhook receiver as processes on loopback.
A send's events all arrive, signed; a dispatcher killed while events are on the wire loses
none of them, and repeats only carry the event id they had."""

from __future__ import annotations

import os
import signal
from collections import defaultdict

import pytest

from loopback import App, WebhookReceiver, wait_until
from tests.e2e.test_host_dispatcher import dispatchers

pytestmark = pytest.mark.e2e

SECRET = "whsec_e2e_receiver_secret"


def start_app(tmp_path, mock, database, **settings) -> App:
    app = App(tmp_path, mock.url, DATABASE_URL=database, WEBHOOK_ALLOW_HTTP="true", **settings)
    return app.start()


def send(app: App, numbers: list[str]) -> int:
    status, body = app.api(
        "POST", "/api/sms/send-bulk", {"recipients": numbers, "content": "Hook"}, app.token()
    )
    assert status == 202, body
    return body["data"]["id"]


def all_reported(receiver: WebhookReceiver, message_id: int, count: int):
    """The events once every recipient and the message have been reported, else None."""
    events = [e for e in receiver.received()["events"] if e["message_id"] == message_id]
    recipients = {r for e in events if e["type"] == "recipient.final" for r in e["recipient_ids"]}
    finals = [e for e in events if e["type"] == "message.final"]
    return events if len(recipients) == count and finals else None


def test_a_sends_events_all_arrive_signed(tmp_path, mock, fresh_database):
    receiver = WebhookReceiver(tmp_path, SECRET).start()
    app = start_app(tmp_path, mock, fresh_database)
    try:
        app.set_webhook(receiver.url, SECRET)
        numbers = [f"6{n:07d}" for n in range(1200)]
        message_id = send(app, numbers)
        events = wait_until(
            lambda: all_reported(receiver, message_id, len(numbers)), 20, what="every event"
        )
        assert all(e["signed"] for e in events)
        assert {e["content_type"] for e in events} == {"application/json"}
        assert len({e["id"] for e in events}) == len(events)  # nothing repeated
        batches = [len(e["recipient_ids"]) for e in events if e["type"] == "recipient.final"]
        assert sum(batches) == 1200 and max(batches) <= 1000
        assert {s for e in events for s in e["statuses"]} == {"sent"}
        assert len([e for e in events if e["type"] == "message.final"]) == 1
    finally:
        app.stop()
        receiver.stop()
    assert "Traceback" not in app.output, app.output


def test_a_dispatcher_killed_mid_delivery_loses_no_event(tmp_path, mock, fresh_database):
    # Each POST takes 0.4 s: the kill lands while events are on the wire, unanswered.
    receiver = WebhookReceiver(tmp_path, SECRET, "--delay-ms", "400").start()
    app = start_app(tmp_path, mock, fresh_database, SMS_CLAIM_LEASE_SECONDS="2")
    try:
        app.set_webhook(receiver.url, SECRET)
        [first] = wait_until(lambda: dispatchers(app.instance), 20, what="the dispatcher")
        numbers = [f"6{n:07d}" for n in range(2000)]
        message_id = send(app, numbers)
        wait_until(lambda: receiver.received()["total"] >= 1, 20, what="a POST on the wire")
        os.kill(first, signal.SIGKILL)
        on_the_wire = receiver.received()
        assert on_the_wire["total"] > on_the_wire["answered"], "nothing was on the wire"
        wait_until(lambda: dispatchers(app.instance) not in ([], [first]), 20, what="restart")

        events = wait_until(
            lambda: all_reported(receiver, message_id, len(numbers)), 30, what="every event"
        )
        assert all(e["signed"] for e in events)
        # A repeat is the same event: one id for each recipient, whatever came twice.
        ids_of: dict[int, set[str]] = defaultdict(set)
        for event in events:
            for recipient in event["recipient_ids"]:
                ids_of[recipient].add(event["id"])
        assert len(ids_of) == len(numbers)
        assert {len(ids) for ids in ids_of.values()} == {1}
        assert len({e["id"] for e in events if e["type"] == "message.final"}) == 1
        repeats = len(events) - len({e["id"] for e in events})
        print(f"events repeated after SIGKILL: {repeats}")
    finally:
        app.stop()
        receiver.stop()

"""The dispatcher delivers every due recipient once and records what happened."""

import threading
import time

import pytest
from sqlalchemy import select

from smspanel.models import DeadLetter, Message, Recipient, db
from smspanel.services.delivery.dispatcher import Dispatcher, DispatcherSettings
from smspanel.services.delivery.gateway import (
    GatewayNoResponse,
    GatewayReply,
    GatewayUnreachable,
)
from tests.fakes import FakeGateway


def run_until(app, gateway, done, timeout=15.0):
    """Run a dispatcher in a thread until `done()` holds (checked in an app context)."""
    with app.app_context():
        engine = db.engine
    dispatcher = Dispatcher(engine, DispatcherSettings.from_config(app.config), gateway)
    thread = threading.Thread(target=dispatcher.run)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with app.app_context():
                if done():
                    return dispatcher
                db.session.remove()
            time.sleep(0.05)
        pytest.fail("dispatcher did not finish in time")
    finally:
        dispatcher.stop()
        thread.join(10)
        assert not thread.is_alive()


def message_status(message_id):
    return db.session.get(Message, message_id).status


def test_every_recipient_is_sent_exactly_once(app, make):
    gateway = FakeGateway()
    numbers = [f"{n:08d}" for n in range(10_000_000, 10_000_300)]
    message_id = make.message(make.user(), numbers, "通知 Notice")
    run_until(app, gateway, lambda: message_status(message_id) != "pending")
    assert set(gateway.calls) == set(numbers) and set(gateway.calls.values()) == {1}
    assert set(gateway.contents) == {"通知 Notice"}
    with app.app_context():
        message = db.session.get(Message, message_id)
        assert (message.status, message.sent_count) == ("sent", 300)
        assert db.session.scalar(select(Recipient.claimed_by).distinct()) is None


def test_a_gateway_refusal_fails_at_once_with_a_dead_letter(app, make):
    gateway = FakeGateway(lambda phone, content, n: GatewayReply(401, "Unauthorized"))
    message_id = make.message(make.user(), ["11112222"])
    run_until(app, gateway, lambda: message_status(message_id) != "pending")
    assert gateway.calls["11112222"] == 1
    with app.app_context():
        recipient = db.session.scalar(select(Recipient))
        assert recipient.status == "failed" and recipient.attempts == 1
        assert "401" in recipient.error_message
        assert db.session.scalar(select(DeadLetter.error_type)) == "http_401"
        assert message_status(message_id) == "failed"


def test_transport_errors_retry_three_times_then_fail(app, make, monkeypatch):
    monkeypatch.setattr(
        "smspanel.services.delivery.attempt.retry_delay", lambda n, e: None if n >= 3 else 0.05
    )

    def unreachable(phone, content, n):
        raise GatewayUnreachable("ConnectError: refused")

    gateway = FakeGateway(unreachable)
    message_id = make.message(make.user(), ["11112222"])
    run_until(app, gateway, lambda: message_status(message_id) != "pending")
    assert gateway.calls["11112222"] == 3
    with app.app_context():
        recipient = db.session.scalar(select(Recipient))
        assert (recipient.status, recipient.attempts, recipient.error_kind) == (
            "failed",
            3,
            "unreachable",
        )
        assert "gave up after 3 attempts" in recipient.error_message
        assert not recipient.maybe_duplicate
        assert db.session.scalar(select(DeadLetter.status)) == "pending"


def test_a_lost_answer_is_retried_and_flagged_as_a_possible_duplicate(app, make, monkeypatch):
    monkeypatch.setattr("smspanel.services.delivery.attempt.retry_delay", lambda n, e: 0.05)

    def flaky(phone, content, n):
        if n == 1:
            raise GatewayNoResponse("ReadTimeout")
        return GatewayReply(200, "OK")

    gateway = FakeGateway(flaky)
    message_id = make.message(make.user(), ["11112222"])
    run_until(app, gateway, lambda: message_status(message_id) != "pending")
    with app.app_context():
        recipient = db.session.scalar(select(Recipient))
        assert (recipient.status, recipient.attempts, recipient.maybe_duplicate) == (
            "sent",
            2,
            True,
        )


def test_a_backoff_does_not_hold_up_other_sends(app, make, monkeypatch):
    monkeypatch.setattr("smspanel.services.delivery.attempt.retry_delay", lambda n, e: 30.0)
    app.config["SMS_WORKER_CONCURRENCY"] = 1

    def first_number_down(phone, content, n):
        if phone == "11112222":
            raise GatewayUnreachable("refused")
        return GatewayReply(200, "OK")

    gateway = FakeGateway(first_number_down)
    make.message(make.user(), ["11112222"])
    later = make.message(make.user(), ["33334444", "55556666"])
    run_until(app, gateway, lambda: message_status(later) == "sent", timeout=5)

"""A cancel racing three dispatchers that claim, send and record, on the database under test.

Run on each database (TEST_DATABASE_URL: PostgreSQL, MariaDB; else SQLite). Whatever the
moment of the cancel: every recipient ends sent or cancelled, never both, never sent twice;
the counts add up; and the gateway gets no request for the message after the cancel
answered (a request already on the wire then finishes, and is counted as sent).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from threading import Barrier

import pytest
from sqlalchemy import select

from smspanel.models import AuditEvent, Message, Recipient, db, utcnow
from smspanel.services.cancelling import NotCancellable, cancel_message
from smspanel.services.delivery.dispatcher import Dispatcher, DispatcherSettings
from smspanel.services.delivery.gateway import GatewayReply
from smspanel.services.sending import accept_send
from tests.campaign_helpers import assert_counts_add_up, bring_forward

DISPATCHERS = 3
FINAL = ("cancelled", "sent")
SETTINGS = DispatcherSettings(concurrency=8, lease_seconds=60, poll_interval=0.05)


@dataclass(frozen=True)
class Request:
    phone: str
    started: float  # time.monotonic() when the dispatcher handed it to the gateway
    answered: float


class TimedGateway:
    """Accepts every SMS after `latency` seconds and keeps when each request came and went."""

    def __init__(self, latency: float = 0.002) -> None:
        self.latency = latency
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    async def send(self, phone: str, content: str) -> GatewayReply:
        started = time.monotonic()
        await asyncio.sleep(self.latency)
        with self._lock:
            self.requests.append(Request(phone, started, time.monotonic()))
        return GatewayReply(200, "OK")

    async def close(self) -> None:
        pass

    def of(self, phones: set[str]) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.phone in phones]


@contextmanager
def running_dispatchers(app, gateway: TimedGateway) -> Iterator[None]:
    with app.app_context():
        engine = db.engine
    dispatchers = [
        Dispatcher(engine, SETTINGS, gateway, worker_id=f"dispatcher-{n}")
        for n in range(DISPATCHERS)
    ]
    threads = [threading.Thread(target=d.run, name=d.worker_id) for d in dispatchers]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for dispatcher in dispatchers:
            dispatcher.stop()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.005)
    pytest.fail(f"timed out waiting for {what}")


def status_of(app, message_id: int) -> str:
    with app.app_context():
        status = db.session.scalar(select(Message.status).where(Message.id == message_id))
        db.session.remove()
        return status


def numbers(first: int, count: int) -> list[str]:
    return [str(first + n) for n in range(count)]


def check_outcome(app, message_id: int, phones: list[str], gateway: TimedGateway, answered):
    """What every race must end with, whatever the timing."""
    requests = gateway.of(set(phones))
    with app.app_context():
        message = assert_counts_add_up(db.session, message_id)
        rows = dict(
            db.session.execute(
                select(Recipient.phone, Recipient.status).where(Recipient.message_id == message_id)
            ).all()
        )
        db.session.remove()
    requested = [r.phone for r in requests]
    assert len(requested) == len(set(requested)), "a recipient was sent twice"
    assert set(rows.values()) <= {"sent", "cancelled"}
    # Sent exactly when the gateway was asked: never counted sent and cancelled, or lost.
    assert {phone for phone, status in rows.items() if status == "sent"} == set(requested)
    assert message.sent_count + message.cancelled_count == message.recipient_count == len(phones)
    late = [r for r in requests if r.started > answered]
    assert late == [], f"{len(late)} request(s) after the cancel answered"
    return message


@pytest.mark.parametrize("cancel_after", [0, 40, 400])
def test_a_cancel_racing_three_dispatchers_stops_everything_not_on_the_wire(
    app, make, cancel_after
):
    user = make.user()
    phones = numbers(51_000_000, 1500)
    bystander = numbers(52_000_000, 300)
    gateway = TimedGateway()
    with running_dispatchers(app, gateway):
        message_id = make.message(user, phones, "to be cancelled")
        other_id = make.message(user, bystander, "not cancelled")
        wait_for(lambda: len(gateway.of(set(phones))) >= cancel_after, 30, "deliveries")
        with app.app_context():
            result = cancel_message(db.session, message_id)
            answered = time.monotonic()
            db.session.remove()
        assert result.status in ("cancelled", "sent")  # every held recipient was let go
        wait_for(lambda: status_of(app, other_id) == "sent", 60, "the other message")
        time.sleep(0.2)  # any request the dispatchers might still (wrongly) make
    message = check_outcome(app, message_id, phones, gateway, answered)
    assert result.cancelled_count == message.cancelled_count
    assert message.status == ("cancelled" if message.cancelled_count else "sent")
    assert message.sent_count >= cancel_after
    assert len(gateway.of(set(bystander))) == 300


def test_a_cancel_as_a_scheduled_message_comes_due_never_deadlocks(app, make):
    """The claim that starts a scheduled message updates it; the cancel updates it too."""
    user = make.user()
    gateway = TimedGateway()
    for round_number in range(5):
        phones = numbers(53_000_000 + round_number * 10_000, 400)
        with app.app_context():
            message_id = accept_send(
                db.session, user.id, phones, "scheduled", utcnow() + timedelta(hours=1)
            ).id
            db.session.remove()
        with running_dispatchers(app, gateway):
            with app.app_context():
                bring_forward(db.session, message_id)
                time.sleep(0.01 * round_number)  # let the claims in, more or less
                cancel_message(db.session, message_id)
                answered = time.monotonic()
                db.session.remove()
            wait_for(lambda m=message_id: status_of(app, m) in FINAL, 30, "the message to end")
            time.sleep(0.1)
        check_outcome(app, message_id, phones, gateway, answered)


def test_two_cancels_at_once_stop_it_once(app, make):
    user = make.user()
    message_id = make.message(user, numbers(54_000_000, 2000))
    both_ready = Barrier(2)

    def cancel():
        with app.app_context():
            both_ready.wait(10)
            try:
                return cancel_message(db.session, message_id).cancelled_count
            except NotCancellable:
                return "refused"
            finally:
                db.session.remove()

    with ThreadPoolExecutor(2) as pool:
        answers = sorted(map(str, pool.map(lambda _: cancel(), range(2))))
    assert answers == ["2000", "refused"]
    with app.app_context():
        assert assert_counts_add_up(db.session, message_id).status == "cancelled"
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sms.cancel"))
        assert len(events.all()) == 1

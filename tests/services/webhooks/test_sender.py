"""Sending: each due delivery is POSTed as stored and signed with the secret of the moment;
a 2xx delivers, anything else retries with backoff until the window closes, redirects are
never followed, a hanging receiver costs one timeout, and the destination is checked again
at every attempt, down to the address connected to."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from smspanel.models import (
    Webhook,
    WebhookDelivery,
    db,
    utcnow,
)
from smspanel.services import telemetry
from smspanel.services.webhooks import destinations
from smspanel.services.webhooks.retry_window import RETRY_WINDOW
from smspanel.services.webhooks.sender import (
    MAX_RETRY_SECONDS,
    USER_AGENT,
    AttemptResult,
    WebhookSender,
    claim_due_deliveries,
    finish_deliveries,
    new_http_client,
    post_delivery,
    retry_delay,
)
from tests.coroutines import run_to_completion
from tests.metrics_reading import value
from tests.services.webhooks.test_signing import verify


def queue_event(user_id: int, payload: str | None = None, **values) -> int:
    """A delivery as packing stores it; its id."""
    now = utcnow()
    payload = payload or json.dumps({"id": "e1", "type": "message.final", "data": {"id": 1}})
    row = {
        "event_id": json.loads(payload)["id"],
        "user_id": user_id,
        "event_type": "message.final",
        "message_id": None,
        "recipient_count": 0,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "retry_until": now + RETRY_WINDOW,
        "created_at": now,
        "updated_at": now,
        **values,
    }
    result = db.session.execute(insert(WebhookDelivery.__table__), row)
    db.session.commit()
    return result.inserted_primary_key[0]


def delivery(delivery_id: int) -> WebhookDelivery:
    db.session.expire_all()
    return db.session.get(WebhookDelivery, delivery_id)


def send_due(allow_private: bool = True, timeout: float = 2.0) -> list[AttemptResult]:
    """One round of the sender: claim what is due, POST it all, record the results."""
    claimed = claim_due_deliveries(db.session, "sender", 100, 60)

    async def post_all() -> list[AttemptResult]:
        lookups = ThreadPoolExecutor(4)
        async with new_http_client(allow_private, lookups) as http:
            return list(
                await asyncio.gather(
                    *(post_delivery(http, d, allow_private, lookups, timeout) for d in claimed)
                )
            )

    results = run_to_completion(post_all())
    finish_deliveries(db.session, "sender", {d.id: d for d in claimed}, results)
    return results


def make_due(delivery_id: int) -> None:
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


@pytest.fixture
def user(make):
    return make.user()


def test_a_2xx_delivers_the_stored_body_signed(app, user, hooks, receiver):
    secret = hooks.subscribe(user, receiver.url("/ok"))
    event = {"id": "e1", "type": "message.final", "data": {"c": "通知"}}
    payload = json.dumps(event, ensure_ascii=False)
    with app.app_context():
        delivery_id = queue_event(user.id, payload)
        [result] = send_due()
        assert result.delivered
        [request] = receiver.requests
        assert request["body"] == payload.encode("utf-8")
        headers = request["headers"]
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"] == USER_AGENT
        assert verify(secret, headers["X-Smspanel-Signature"], request["body"])
        row = delivery(delivery_id)
        assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
        assert row.delivered_at is not None and row.last_error is None
        assert row.lease_owner is None and row.lease_until is None


def test_a_failure_is_retried_with_growing_delays(app, user, hooks, receiver):
    hooks.subscribe(user, receiver.url("/fail"))
    with app.app_context():
        delivery_id = queue_event(user.id)
        waits = []
        for attempt in (1, 2, 3):
            started = utcnow()
            send_due()
            row = delivery(delivery_id)
            assert (row.status, row.attempts, row.last_status_code) == ("pending", attempt, 500)
            assert row.last_error == "HTTP 500: broken"
            waits.append((row.next_attempt_at - started).total_seconds())
            make_due(delivery_id)
        assert 8 <= waits[0] <= 12.5 and 16 <= waits[1] <= 24.5 and 32 <= waits[2] <= 48.5
        assert len(receiver.requests) == 3


def test_delays_double_from_10_seconds_to_an_hour_with_jitter():
    for attempts, step in ((1, 10), (2, 20), (3, 40), (6, 320), (9, 2560)):
        delays = [retry_delay(attempts) for _ in range(200)]
        assert step * 0.8 <= min(delays) and max(delays) <= step * 1.2
        assert len(set(delays)) > 1
    assert max(retry_delay(n) for n in (10, 20, 60) for _ in range(100)) <= MAX_RETRY_SECONDS
    assert min(retry_delay(20) for _ in range(100)) >= MAX_RETRY_SECONDS * 0.8


def attempts(outcome: str) -> float:
    snapshot = telemetry.read_queue_snapshot(db.session, utcnow())
    text = telemetry.exposition(snapshot).decode()
    return value(text, "smspanel_webhook_attempts_total", outcome=outcome)


def test_each_post_is_counted_by_outcome_for_the_metrics(app, user, hooks, receiver):
    with app.app_context():
        before = {o: attempts(o) for o in ("delivered", "retried", "failed")}
        hooks.subscribe(user, receiver.url("/ok"))
        queue_event(user.id)
        send_due()
        hooks.subscribe(user, receiver.url("/fail"))
        retried = queue_event(user.id)
        send_due()
        make_due(retried)
        db.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == retried)
            .values(retry_until=utcnow() + timedelta(seconds=5))
        )
        db.session.commit()
        send_due()
        after = {o: attempts(o) - before[o] for o in before}
    assert after == {"delivered": 1, "retried": 1, "failed": 1}


def test_a_failure_after_the_retry_window_fails_for_good(app, user, hooks, receiver):
    hooks.subscribe(user, receiver.url("/fail"))
    with app.app_context():
        delivery_id = queue_event(user.id, retry_until=utcnow() + timedelta(seconds=5))
        send_due()
        row = delivery(delivery_id)
        assert (row.status, row.attempts, row.last_status_code) == ("failed", 1, 500)
        assert claim_due_deliveries(db.session, "sender", 10, 60) == []


def test_a_redirect_is_refused_and_never_followed(app, user, hooks, receiver):
    hooks.subscribe(user, receiver.url("/redirect"))
    with app.app_context():
        delivery_id = queue_event(user.id)
        [result] = send_due()
        assert not result.delivered
        assert receiver.paths() == ["/redirect"]
        row = delivery(delivery_id)
        assert (row.status, row.last_status_code) == ("pending", 302)
        assert row.last_error.startswith("redirect refused")


def test_a_hanging_receiver_costs_one_timeout(app, user, hooks, receiver):
    hooks.subscribe(user, receiver.url("/hang"))
    with app.app_context():
        delivery_id = queue_event(user.id)
        started = time.monotonic()
        [result] = send_due(timeout=0.5)
        assert time.monotonic() - started < 2.5
        assert not result.delivered
        row = delivery(delivery_id)
        assert (row.status, row.last_status_code) == ("pending", None)
        assert row.last_error == "no answer within 0.5 s"


def test_the_destination_is_checked_again_at_send_time(app, user, hooks, receiver):
    with app.app_context():
        hooks.subscribe(user, receiver.url("/ok"))  # allowed when it was set
        delivery_id = queue_event(user.id)
        send_due(allow_private=False)  # http and loopback are not allowed (any more)
        assert receiver.requests == []
        assert delivery(delivery_id).last_error.startswith("refused: ")
        hooks.subscribe(user, "http://169.254.169.254/latest/meta-data/")
        make_due(delivery_id)
        send_due(allow_private=True)  # link-local, cloud metadata: never
        row = delivery(delivery_id)
        assert row.status == "pending" and "169.254.169.254" in row.last_error


def test_a_name_repointed_after_the_check_reaches_no_refused_address(app, user, hooks, monkeypatch):
    """DNS rebinding: the name resolves to a public address when checked, then to this host
    when aiohttp connects; the connection must never be made."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    real = socket.getaddrinfo
    answers = iter(["93.184.216.34"])

    def rebinding(host, *args, **kwargs):
        if host != "rebind.test":
            return real(host, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(destinations.socket, "getaddrinfo", rebinding)
    hooks.subscribe(user, f"https://rebind.test:{port}/hook")
    with app.app_context():
        delivery_id = queue_event(user.id)
        [result] = send_due(allow_private=False, timeout=1.0)
        time.sleep(0.2)
        listener.close()
        assert accepted == []
        assert not result.delivered
        assert "127.0.0.1" in delivery(delivery_id).last_error


def test_the_next_attempt_is_signed_with_a_rotated_secret(app, user, hooks, receiver):
    old = hooks.subscribe(user, receiver.url("/fail"))
    with app.app_context():
        delivery_id = queue_event(user.id)
        send_due()
        db.session.execute(update(Webhook).values(secret="whsec_rotated", url=receiver.url("/ok")))
        db.session.commit()
        make_due(delivery_id)
        send_due()
        first, second = receiver.requests
        assert verify(old, first["headers"]["X-Smspanel-Signature"], first["body"])
        header = second["headers"]["X-Smspanel-Signature"]
        assert verify("whsec_rotated", header, second["body"])
        assert not verify(old, header, second["body"])
        assert delivery(delivery_id).status == "delivered"


def test_a_delivery_whose_webhook_was_removed_fails_at_once(app, user, hooks, receiver):
    hooks.subscribe(user, receiver.url("/ok"))
    hooks.remove(user)
    with app.app_context():
        delivery_id = queue_event(user.id)
        send_due()
        row = delivery(delivery_id)
        assert (row.status, row.last_error) == ("failed", "the webhook was removed")


def test_a_leased_delivery_is_claimed_once_and_finished_only_by_its_holder(app, user, hooks):
    hooks.subscribe(user)
    with app.app_context():
        delivery_id = queue_event(user.id)
        [first] = claim_due_deliveries(db.session, "a", 10, 60)
        assert claim_due_deliveries(db.session, "b", 10, 60) == []  # under a's lease
        make_due(delivery_id)  # a's lease runs out: b takes it over
        [again] = claim_due_deliveries(db.session, "b", 10, 60)
        late = AttemptResult(first.id, True, utcnow(), 200)
        finish_deliveries(db.session, "a", {first.id: first}, [late])
        row = delivery(delivery_id)
        assert (row.status, row.lease_owner, row.attempts) == ("pending", "b", 0)
        finish_deliveries(db.session, "b", {again.id: again}, [late])
        assert delivery(delivery_id).status == "delivered"


def run_sender(app, **options) -> WebhookSender:
    with app.app_context():
        engine = db.engine
    sender = WebhookSender(engine, "test-sender", allow_private=True, poll_seconds=0.05, **options)
    sender.start()
    return sender


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session.no_autoflush:
            db.session.expire_all()
            if condition():
                return
        time.sleep(0.05)
    pytest.fail("timed out")


def test_the_sender_thread_packs_and_delivers_a_sends_events(app, make, user, hooks, receiver):
    hooks.subscribe(user, receiver.url("/ok"))
    make.message(user, ["91234567", "91234568"])
    make.deliver()
    sender = run_sender(app)
    try:
        with app.app_context():
            wait_for(lambda: len(receiver.requests) == 2)
            types = sorted(json.loads(r["body"])["type"] for r in receiver.requests)
            assert types == ["message.final", "recipient.final"]
            wait_for(
                lambda: set(db.session.scalars(select(WebhookDelivery.status))) == {"delivered"}
            )
    finally:
        sender.stop()
        assert sender.join(5)


def test_hanging_receivers_hold_only_their_own_slots(app, make, hooks, receiver):
    receiver.hang_seconds = 3.0
    stuck, fine = make.user(), make.user()
    hooks.subscribe(stuck, receiver.url("/hang"))
    hooks.subscribe(fine, receiver.url("/ok"))
    with app.app_context():
        for _ in range(3):
            queue_event(stuck.id)
        fine_ids = [queue_event(fine.id) for _ in range(3)]
    sender = run_sender(app, concurrency=2, timeout=0.5)
    started = time.monotonic()
    try:
        with app.app_context():
            wait_for(lambda: all(delivery(i).status == "delivered" for i in fine_ids), 5)
            assert time.monotonic() - started < 3.0
    finally:
        sender.stop()
        assert sender.join(5)


def test_one_hanging_receiver_holds_at_most_two_slots(app, make, hooks, receiver):
    receiver.hang_seconds = 3.0
    stuck, fine = make.user(), make.user()
    hooks.subscribe(stuck, receiver.url("/hang"))
    hooks.subscribe(fine, receiver.url("/ok"))
    with app.app_context():
        for _ in range(12):  # due first, enough to fill every slot three times over
            queue_event(stuck.id)
        fine_ids = [queue_event(fine.id) for _ in range(4)]
    sender = run_sender(app, concurrency=4, timeout=2.0)
    started = time.monotonic()
    try:
        with app.app_context():
            wait_for(lambda: all(delivery(i).status == "delivered" for i in fine_ids), 5)
            assert time.monotonic() - started < 1.5  # not after a round of timeouts
            assert receiver.paths().count("/hang") == 2
    finally:
        sender.stop()
        assert sender.join(5)


def test_a_claim_takes_at_most_two_of_one_users_deliveries(app, make, hooks):
    first, second = make.user(), make.user()
    with app.app_context():
        for _ in range(5):
            queue_event(first.id)
        queue_event(second.id)
        claimed = claim_due_deliveries(db.session, "s", 8, 60)
        assert sorted(d.user_id for d in claimed) == [first.id, first.id, second.id]
        more = claim_due_deliveries(db.session, "s", 8, 60, in_flight={first.id: 2})
        assert more == []
        more = claim_due_deliveries(db.session, "s", 8, 60, in_flight={first.id: 1})
        assert [d.user_id for d in more] == [first.id]


def test_stopping_finishes_the_posts_on_the_wire_and_records_them(app, user, hooks, receiver):
    receiver.hang_seconds = 0.8
    hooks.subscribe(user, receiver.url("/hang"))
    with app.app_context():
        delivery_id = queue_event(user.id)
    sender = run_sender(app, timeout=5.0)
    try:
        with app.app_context():
            wait_for(lambda: receiver.requests)
    finally:
        sender.stop()
        assert sender.join(5)
    with app.app_context():
        row = delivery(delivery_id)
        assert (row.status, row.lease_owner) == ("delivered", None)

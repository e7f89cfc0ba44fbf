"""The metrics: recipients counted where their status changes, only once committed; the
gateway's durations; the queue's figures read from the database at each scrape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from smspanel.models import DeadLetter, Recipient, WebhookDelivery, db, utcnow
from smspanel.services import dead_letter, telemetry
from smspanel.services.cancelling import cancel_message
from smspanel.services.delivery.attempt import attempt_delivery
from smspanel.services.delivery.claims import ClaimedRecipient, claim_due_recipients
from smspanel.services.delivery.gateway import GatewayNoResponse, GatewayReply
from smspanel.services.sending import accept_send
from smspanel.services.transactions import transaction
from tests.coroutines import run_to_completion
from tests.fakes import FakeGateway
from tests.metrics_reading import value

MOBILES = [f"9100{n:04d}" for n in range(10)]
FIXED_LINE = "28331234"


def scrape(app) -> str:
    with app.app_context():
        snapshot = telemetry.read_queue_snapshot(db.session, utcnow())
    return telemetry.exposition(snapshot).decode()


def recipients(app, status: str) -> float:
    return value(scrape(app), "smspanel_recipients_total", status=status)


def test_a_send_counts_its_recipients_pending_and_its_skipped_ones_skipped(app, make):
    user = make.user()
    pending, skipped = recipients(app, "pending"), recipients(app, "skipped")
    make.message(user, [*MOBILES[:3], FIXED_LINE])
    assert recipients(app, "pending") == pending + 3
    assert recipients(app, "skipped") == skipped + 1


def test_a_send_rolled_back_counts_nothing(app, make):
    user = make.user()
    before = recipients(app, "pending")
    with app.app_context():
        with pytest.raises(RuntimeError), transaction(db.session):
            accept_send(db.session, user.id, MOBILES[:3], "Hi")
            raise RuntimeError("the outer use case failed")
        assert db.session.scalar(select(Recipient.id)) is None
    assert recipients(app, "pending") == before


def test_delivered_recipients_count_as_sent_or_failed(app, make):
    make.message(make.user(), MOBILES[:3])
    sent, failed = recipients(app, "sent"), recipients(app, "failed")
    make.deliver(failing=frozenset({MOBILES[0]}))
    assert recipients(app, "sent") == sent + 2
    assert recipients(app, "failed") == failed + 1


def test_a_cancel_counts_the_recipients_it_stopped(app, make):
    user = make.user()
    message_id = make.message(user, MOBILES[:4])
    before = recipients(app, "cancelled")
    with app.app_context():
        cancel_message(db.session, message_id)
    assert recipients(app, "cancelled") == before + 4


def test_a_dead_letter_retried_counts_again_only_when_it_ends_again(app, make):
    make.message(make.user(), MOBILES[:1])
    make.deliver(failing=frozenset({MOBILES[0]}))
    failed, sent = recipients(app, "failed"), recipients(app, "sent")
    with app.app_context():
        dead_letter.retry(db.session, [db.session.scalar(select(DeadLetter.id))])
    assert (recipients(app, "failed"), recipients(app, "sent")) == (failed, sent)
    make.deliver()
    assert recipients(app, "sent") == sent + 1


def claimed(phone: str = MOBILES[0]) -> ClaimedRecipient:
    return ClaimedRecipient(1, 1, phone, "Hi", 0, False)


def gateway_requests(app, result: str) -> float:
    return value(scrape(app), "smspanel_gateway_request_seconds_count", result=result)


def test_each_gateway_request_is_timed_by_how_it_ended(app):
    def answer(phone: str, content: str, n: int) -> GatewayReply:
        if phone == MOBILES[2]:
            raise GatewayNoResponse("read timed out")
        return GatewayReply(200 if phone == MOBILES[0] else 401, "")

    before = {r: gateway_requests(app, r) for r in telemetry.GATEWAY_RESULTS}
    gateway = FakeGateway(answer)
    for phone in MOBILES[:3]:
        run_to_completion(attempt_delivery(gateway, claimed(phone)))
    after = {r: gateway_requests(app, r) for r in telemetry.GATEWAY_RESULTS}
    assert {r: after[r] - before[r] for r in after} == {
        telemetry.ACCEPTED: 1,
        telemetry.REFUSED: 1,
        telemetry.TRANSPORT_ERROR: 1,
        telemetry.INTERNAL_ERROR: 0,
    }
    text = scrape(app)
    assert value(text, "smspanel_gateway_request_seconds_bucket", result="accepted", le="+Inf")


def snapshot(app, now=None) -> telemetry.QueueSnapshot:
    with app.app_context():
        return telemetry.read_queue_snapshot(db.session, now or utcnow())


def test_the_queue_is_the_recipients_of_sends_in_progress_without_a_result(app, make):
    """Waiting, on the wire or waiting for a retry; not a scheduled send's recipients."""
    user = make.user()
    make.message(user, MOBILES[:3])
    make.message(user, MOBILES[3:5], scheduled_at=utcnow() + timedelta(hours=2))
    assert snapshot(app).queue_depth == 3
    with app.app_context():
        claim_due_recipients(db.session, "test-worker", 1, 60)  # on the wire: still queued
    assert snapshot(app).queue_depth == 3
    make.deliver(failing=frozenset({MOBILES[1]}))  # a result for all but the one claimed
    assert snapshot(app).queue_depth == 1


def test_the_oldest_due_recipient_says_how_long_it_has_been_due(app, make):
    make.message(make.user(), MOBILES[:2])
    assert snapshot(app).oldest_due_seconds < 5
    assert 599 < snapshot(app, utcnow() + timedelta(minutes=10)).oldest_due_seconds < 605
    make.deliver()
    assert snapshot(app, utcnow() + timedelta(minutes=10)).oldest_due_seconds == 0


def test_dead_letters_pending_until_abandoned(app, make):
    make.message(make.user(), MOBILES[:3])
    make.deliver(failing=frozenset(MOBILES[:2]))
    assert snapshot(app).dead_letters_pending == 2
    with app.app_context():
        dead_letter.abandon(db.session, db.session.scalar(select(DeadLetter.id)))
    assert snapshot(app).dead_letters_pending == 1


def test_webhook_deliveries_waiting_or_failed_are_counted_the_delivered_are_not(app, make):
    """The delivered ones only grow (counted as they happen, smspanel_webhook_attempts):
    the scrape reads only the two ranges that stay small."""
    user = make.user()
    assert snapshot(app).webhook_deliveries == {"failed": 0, "pending": 0}
    with app.app_context():
        now = utcnow()
        for n, status in enumerate(["pending", "delivered", "delivered", "failed"]):
            db.session.add(
                WebhookDelivery(
                    event_id=f"00000000-0000-0000-0000-00000000000{n}",
                    user_id=user.id,
                    event_type="message.final",
                    payload="{}",
                    status=status,
                    retry_until=now + timedelta(hours=24),
                )
            )
        db.session.commit()
    assert snapshot(app).webhook_deliveries == {"failed": 1, "pending": 1}


def test_the_build_is_named_by_version_commit_and_python(app):
    text = scrape(app)
    info = telemetry.build_info()
    assert set(info) == {"version", "commit", "python"}
    assert value(text, "smspanel_build_info", **info) == 1

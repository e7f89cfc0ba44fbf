"""Cancel: a scheduled message whole; one being sent, every recipient not yet handed to the
gateway; never a recipient counted twice, never one sent after the cancel answered."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from smspanel.models import AuditEvent, DeadLetter, Message, Recipient, db, utcnow
from smspanel.services import dead_letter
from smspanel.services.cancelling import (
    NotCancellable,
    cancel_held_recipients,
    cancel_message,
    cancelled_among,
)
from smspanel.services.delivery.claims import claim_due_recipients
from smspanel.services.delivery.gateway import GatewayReply, GatewayUnreachable
from smspanel.services.delivery.outcomes import DeliveryOutcome, record_outcomes
from smspanel.services.sending import accept_send
from tests.campaign_helpers import assert_counts_add_up, lapse_leases, recipient_statuses

OK = GatewayReply(200, "OK")
NUMBERS = [f"9100{n:04d}" for n in range(5)]


@pytest.fixture
def user(make):
    return make.user()


def scheduled(user, numbers=NUMBERS, minutes=30):
    return accept_send(
        db.session, user.id, numbers, "Notice", scheduled_at=utcnow() + timedelta(minutes=minutes)
    ).id


def test_a_scheduled_message_is_cancelled_whole(app, user):
    with app.app_context():
        message_id = scheduled(user)
        result = cancel_message(db.session, message_id)
        assert (result.id, result.status, result.cancelled_count) == (message_id, "cancelled", 5)
        message = assert_counts_add_up(db.session, message_id)
        assert recipient_statuses(db.session, message_id) == {"cancelled": 5}
        assert message.cancelled_at is not None and message.completed_at is not None
        assert message.started_at is None  # it never started
        assert claim_due_recipients(db.session, "w", 100, 60) == []


def test_a_cancel_is_audited(app, user):
    with app.app_context():
        message_id = scheduled(user)
        cancel_message(db.session, message_id)
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sms.cancel"))
        assert event.target == f"message:{message_id}"
        assert event.detail == "5 of 5 recipient(s) not yet sent"


def test_in_progress_the_unclaimed_recipients_are_cancelled_at_once(app, make, user):
    message_id = make.message(user, NUMBERS)
    with app.app_context():
        held = claim_due_recipients(db.session, "w", 2, 60)
        result = cancel_message(db.session, message_id, wait_seconds=0)
        # Two are still with the dispatcher: the message is not final yet.
        assert (result.status, result.cancelled_count) == ("pending", 3)
        assert recipient_statuses(db.session, message_id) == {"cancelled": 3, "pending": 2}
        assert cancelled_among(db.session, [message_id, message_id + 1]) == {message_id}

        # One was on the wire and is recorded as sent; the other is handed back unsent.
        on_the_wire, unsent = held
        assert record_outcomes(db.session, "w", [DeliveryOutcome.sent(on_the_wire, OK)]) == 1
        assert cancel_held_recipients(db.session, "w", [(unsent.id, message_id)]) == 1
        message = assert_counts_add_up(db.session, message_id)
        assert (message.status, message.sent_count, message.cancelled_count) == ("cancelled", 1, 4)
        assert db.session.get(Recipient, unsent.id).claimed_by is None


def test_a_message_whose_last_recipients_were_all_on_the_wire_ends_as_sent(app, make, user):
    message_id = make.message(user, NUMBERS[:2])
    with app.app_context():
        held = claim_due_recipients(db.session, "w", 10, 60)
        assert cancel_message(db.session, message_id, wait_seconds=0).cancelled_count == 0
        record_outcomes(db.session, "w", [DeliveryOutcome.sent(c, OK) for c in held])
        assert assert_counts_add_up(db.session, message_id).status == "sent"


def test_the_cancel_answers_once_the_dispatcher_has_let_go_of_what_it_held(app, make, user):
    message_id = make.message(user, NUMBERS)
    with app.app_context():
        engine = db.engine
        held = claim_due_recipients(db.session, "w", 2, 60)

    def dispatcher_finishes_later():
        time.sleep(0.3)
        with app.app_context():
            record_outcomes(db.session, "w", [DeliveryOutcome.sent(held[0], OK)])
            cancel_held_recipients(db.session, "w", [(held[1].id, message_id)])
            db.session.remove()

    thread = threading.Thread(target=dispatcher_finishes_later)
    thread.start()
    with app.app_context():
        assert engine is db.engine
        started = time.monotonic()
        result = cancel_message(db.session, message_id, wait_seconds=5)
        waited = time.monotonic() - started
    thread.join()
    assert 0.25 <= waited < 2
    assert (result.status, result.cancelled_count) == ("cancelled", 4)


def test_the_cancel_does_not_wait_past_its_limit_for_a_dispatcher_that_is_gone(app, make, user):
    message_id = make.message(user, NUMBERS)
    with app.app_context():
        claim_due_recipients(db.session, "gone", 1, 60)
        started = time.monotonic()
        result = cancel_message(db.session, message_id, wait_seconds=0.3)
        assert 0.3 <= time.monotonic() - started < 1.5
        assert (result.status, result.cancelled_count) == ("pending", 4)


def test_a_retry_of_a_cancelled_messages_recipient_becomes_cancelled(app, make, user):
    message_id = make.message(user, NUMBERS[:2])
    with app.app_context():
        first, second = claim_due_recipients(db.session, "w", 10, 60)
        cancel_message(db.session, message_id, wait_seconds=0)
        no_answer = GatewayUnreachable("connection refused")
        record_outcomes(
            db.session,
            "w",
            [DeliveryOutcome.sent(first, OK), DeliveryOutcome.retry_later(second, no_answer, 2)],
        )
        retried = db.session.get(Recipient, second.id)
        assert (retried.status, retried.attempts) == ("cancelled", 1)
        message = assert_counts_add_up(db.session, message_id)
        assert (message.status, message.sent_count, message.cancelled_count) == ("cancelled", 1, 1)


def test_a_lapsed_lease_of_a_cancelled_message_is_cancelled_when_claimed(app, make, user):
    message_id = make.message(user, NUMBERS[:3])
    with app.app_context():
        crashed = claim_due_recipients(db.session, "crashed", 10, 60)
        cancel_message(db.session, message_id, wait_seconds=0)
        assert recipient_statuses(db.session, message_id) == {"pending": 3}  # all held
        lapse_leases(db.session, message_id)
        assert claim_due_recipients(db.session, "rescuer", 10, 60) == []  # never returned
        message = assert_counts_add_up(db.session, message_id)
        assert (message.status, message.cancelled_count) == ("cancelled", 3)
        # The crashed dispatcher's late results change nothing.
        late = [DeliveryOutcome.sent(c, OK) for c in crashed]
        assert record_outcomes(db.session, "crashed", late) == 0
        assert assert_counts_add_up(db.session, message_id).sent_count == 0


def test_a_lease_already_lapsed_when_the_cancel_comes_is_cancelled_at_once(app, make, user):
    message_id = make.message(user, NUMBERS[:3])
    with app.app_context():
        claim_due_recipients(db.session, "crashed", 2, 60)
        lapse_leases(db.session, message_id)
        result = cancel_message(db.session, message_id, wait_seconds=0)
        assert (result.status, result.cancelled_count) == ("cancelled", 3)


def test_a_dead_letter_retry_of_a_cancelled_message_is_cancelled_not_sent(app, make, user):
    message_id = make.message(user, NUMBERS[:2])
    with app.app_context():
        refused, held = claim_due_recipients(db.session, "w", 10, 60)
        record_outcomes(
            db.session, "w", [DeliveryOutcome.refused(refused, GatewayReply(401, "Unauthorized"))]
        )
        cancel_message(db.session, message_id, wait_seconds=0)
        cancel_held_recipients(db.session, "w", [(held.id, message_id)])
        assert assert_counts_add_up(db.session, message_id).status == "cancelled"

        entry_id = db.session.scalar(select(DeadLetter.id))
        dead_letter.retry(db.session, [entry_id])
        assert claim_due_recipients(db.session, "w", 10, 60) == []
        message = assert_counts_add_up(db.session, message_id)
        assert (message.status, message.failed_count, message.cancelled_count) == (
            "cancelled",
            0,
            2,
        )


@pytest.mark.parametrize("outcome", ["sent", "failed"])
def test_a_final_message_is_not_cancellable(app, make, user, outcome):
    message_id = make.message(user, ["91234567"])
    make.deliver(failing=frozenset({"91234567"}) if outcome == "failed" else frozenset())
    with app.app_context():
        with pytest.raises(NotCancellable, match=f"is {outcome}"):
            cancel_message(db.session, message_id)
        message = db.session.get(Message, message_id)
        assert (message.status, message.cancelled_at) == (outcome, None)
        assert (
            db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sms.cancel")) is None
        )


def test_a_cancelled_message_is_not_cancellable_again(app, make, user):
    message_id = make.message(user, NUMBERS)
    with app.app_context():
        claim_due_recipients(db.session, "w", 1, 60)
        cancel_message(db.session, message_id, wait_seconds=0)  # one still held: not final
        with pytest.raises(NotCancellable):
            cancel_message(db.session, message_id, wait_seconds=0)
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sms.cancel"))
        assert len(events.all()) == 1


def test_a_message_that_finished_after_the_caller_read_it_is_not_cancelled(app, make, user):
    """The API reads the message (to check it is the caller's) before cancelling; the cancel
    must judge it by its state under the lock, not by that earlier copy."""
    message_id = make.message(user, ["91234567"])
    with app.app_context():
        callers_copy = db.session.get(Message, message_id)
        assert callers_copy.status == "pending"
        make.deliver()  # meanwhile a dispatcher finishes it (another session)
        with pytest.raises(NotCancellable, match="is sent"):
            cancel_message(db.session, message_id)
        db.session.expire_all()
        assert (callers_copy.status, callers_copy.cancelled_at) == ("sent", None)


def test_a_refused_cancel_changes_no_recipient(app, make, user):
    message_id = make.message(user, NUMBERS[:2])
    with app.app_context():
        claim_due_recipients(db.session, "crashed", 1, 60)
        cancel_message(db.session, message_id, wait_seconds=0)
        lapse_leases(db.session, message_id)
        with pytest.raises(NotCancellable):
            cancel_message(db.session, message_id, wait_seconds=0)
        # The lapsed one is left for the next claim to cancel, with its count.
        assert recipient_statuses(db.session, message_id) == {"cancelled": 1, "pending": 1}
        assert claim_due_recipients(db.session, "w", 10, 60) == []
        assert assert_counts_add_up(db.session, message_id).status == "cancelled"


def test_cancelling_one_message_leaves_the_others_alone(app, make, user):
    kept = make.message(user, NUMBERS[:2])
    with app.app_context():
        stopped = scheduled(user)
        cancel_message(db.session, stopped)
        assert [c.message_id for c in claim_due_recipients(db.session, "w", 10, 60)] == [kept] * 2

"""The outbox is written in the transaction of the change it reports: exactly when a message
or a recipient becomes final, for owners subscribed to that event, and never for a change
that was rolled back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from smspanel.models import DeadLetter, Recipient, WebhookOutboxEntry, db, utcnow
from smspanel.services import dead_letter
from smspanel.services.approvals import reject
from smspanel.services.cancelling import cancel_held_recipients, cancel_message
from smspanel.services.delivery.claims import claim_due_recipients
from smspanel.services.delivery.gateway import GatewayReply, GatewayUnreachable
from smspanel.services.delivery.outcomes import DeliveryOutcome, record_outcomes
from smspanel.services.sending import accept_send
from smspanel.services.transactions import transaction
from smspanel.services.webhooks import outbox as outbox_module
from smspanel.services.webhooks.outbox import MAX_RECIPIENTS_PER_ENTRY
from tests.queries import recorded_statements
from tests.registers import opt_out
from tests.services.webhooks.conftest import outbox, reported_recipients

OK = GatewayReply(200, "OK")
NUMBERS = ["91230001", "91230002", "91230003"]
FIXED_LINE = "28331234"


def recipient_ids(message_id: int, status: str | None = None) -> list[int]:
    query = select(Recipient.id).where(Recipient.message_id == message_id)
    if status:
        query = query.where(Recipient.status == status)
    return list(db.session.scalars(query.order_by(Recipient.id)))


def test_a_delivered_send_reports_each_recipient_and_then_the_message(app, make, hooks):
    user = make.user()
    hooks.subscribe(user)
    message_id = make.message(user, NUMBERS)
    make.deliver(failing=frozenset({"91230003"}))
    with app.app_context():
        ids = recipient_ids(message_id)
        assert outbox() == [
            (user.id, "recipient.final", message_id, ids),
            (user.id, "message.final", message_id, None),
        ]


def test_nothing_is_written_without_a_subscription_to_the_event(app, make, hooks):
    unsubscribed, only_messages, other = make.user(), make.user(), make.user()
    hooks.subscribe(only_messages, events="message.final")
    hooks.subscribe(other, events="recipient.final")
    first = make.message(unsubscribed, NUMBERS)
    second = make.message(only_messages, NUMBERS)
    make.deliver()
    with app.app_context():
        # `other` subscribes to recipients, but only of its own messages.
        assert outbox() == [(only_messages.id, "message.final", second, None)]
        assert first not in {mid for _u, _t, mid, _ids in outbox()}


def test_a_failed_attempt_that_will_be_retried_is_not_final(app, make, hooks):
    user = make.user()
    hooks.subscribe(user)
    message_id = make.message(user, ["91230001"])
    with app.app_context():
        [claimed] = claim_due_recipients(db.session, "w", 10, 60)
        error = GatewayUnreachable("refused")
        record_outcomes(db.session, "w", [DeliveryOutcome.retry_later(claimed, error, 0)])
        assert outbox() == []
        [claimed] = claim_due_recipients(db.session, "w", 10, 60)
        record_outcomes(db.session, "w", [DeliveryOutcome.gave_up(claimed, error)])
        assert outbox() == [
            (user.id, "recipient.final", message_id, [claimed.id]),
            (user.id, "message.final", message_id, None),
        ]


def test_entries_roll_back_with_the_change_they_report(app, make, hooks):
    user = make.user()
    hooks.subscribe(user)
    make.message(user, NUMBERS)
    with app.app_context():
        claimed = claim_due_recipients(db.session, "w", 10, 60)
        with pytest.raises(RuntimeError), transaction(db.session):
            record_outcomes(db.session, "w", [DeliveryOutcome.sent(c, OK) for c in claimed])
            raise RuntimeError("the batch's transaction fails after the results")
        assert outbox() == []
        assert set(db.session.scalars(select(Recipient.status))) == {"pending"}
        # Recorded again, it reports once.
        record_outcomes(db.session, "w", [DeliveryOutcome.sent(c, OK) for c in claimed])
        assert [kind for _u, kind, _m, _ids in outbox()] == ["recipient.final", "message.final"]


def test_one_subscription_query_per_transaction(app, make, hooks):
    users = [make.user() for _ in range(3)]
    hooks.subscribe(users[0])
    for user in users:
        make.message(user, NUMBERS)
    with app.app_context():
        claimed = claim_due_recipients(db.session, "w", 100, 60)
        with recorded_statements(app) as statements:
            record_outcomes(db.session, "w", [DeliveryOutcome.sent(c, OK) for c in claimed])
        webhooks = [s for s in statements if "webhooks" in s and "webhook_outbox" not in s]
        assert len(webhooks) == 1, webhooks
        assert len(outbox()) == 2  # the subscriber's recipients and message


def test_a_large_batch_is_split_into_entries_of_at_most_1000_recipients(app, make, hooks):
    user = make.user()
    hooks.subscribe(user, events="recipient.final")
    numbers = [f"9{n:07d}" for n in range(2500)]
    message_id = make.message(user, numbers)
    make.deliver()
    with app.app_context():
        sizes = [len(ids or []) for _u, _t, _m, ids in outbox()]
        assert sizes == [MAX_RECIPIENTS_PER_ENTRY, MAX_RECIPIENTS_PER_ENTRY, 500]
        assert reported_recipients(message_id) == recipient_ids(message_id)


def test_numbers_skipped_at_accept_are_final_at_once(app, make, hooks):
    user = make.user()
    hooks.subscribe(user)
    opt_out(app, "91230002")
    with app.app_context():
        sent = accept_send(db.session, user.id, [*NUMBERS, FIXED_LINE], "Notice")
        skipped = recipient_ids(sent.id, "skipped")
        assert len(skipped) == 2
        assert outbox() == [(user.id, "recipient.final", sent.id, skipped)]


def test_a_send_with_nothing_skipped_writes_nothing_at_accept(app, make, hooks):
    user = make.user()
    hooks.subscribe(user)
    make.message(user, NUMBERS)
    with app.app_context():
        assert outbox() == []


def test_numbers_skipped_when_claimed_are_reported(app, make, hooks):
    user = make.user()
    hooks.subscribe(user, events="recipient.final")
    message_id = make.message(user, NUMBERS)
    opt_out(app, "91230001")
    with app.app_context():
        claimed = claim_due_recipients(db.session, "w", 10, 60)
        assert len(claimed) == 2
        assert reported_recipients(message_id) == recipient_ids(message_id, "skipped")


def test_a_cancel_reports_every_recipient_it_stopped_and_the_message(app, make, hooks):
    user = make.user()
    hooks.subscribe(user)
    with app.app_context():
        message_id = accept_send(
            db.session, user.id, NUMBERS, "Notice", scheduled_at=utcnow() + timedelta(hours=1)
        ).id
        cancel_message(db.session, message_id, wait_seconds=0)
        assert outbox() == [
            (user.id, "recipient.final", message_id, recipient_ids(message_id)),
            (user.id, "message.final", message_id, None),
        ]


def test_recipients_a_dispatcher_holds_are_reported_when_it_cancels_them(app, make, hooks):
    user = make.user()
    hooks.subscribe(user, events="recipient.final")
    message_id = make.message(user, NUMBERS)
    with app.app_context():
        claimed = claim_due_recipients(db.session, "w", 10, 60)
        cancel_message(db.session, message_id, wait_seconds=0)  # none unheld to cancel
        assert outbox() == []
        cancel_held_recipients(db.session, "w", [(c.id, c.message_id) for c in claimed[:2]])
        assert reported_recipients(message_id) == [c.id for c in claimed[:2]]


def test_a_rejected_send_reports_its_cancelled_recipients_and_the_message(app, make, hooks):
    unit = make.department(threshold=2)
    maker = make.user(department=unit)
    checker = make.user(department=unit, role="approver")
    hooks.subscribe(maker)
    message_id = make.message(maker, NUMBERS)
    with app.app_context():
        assert outbox() == []
        reject(db.session, message_id, checker.id, "not today")
        assert outbox() == [
            (maker.id, "recipient.final", message_id, recipient_ids(message_id)),
            (maker.id, "message.final", message_id, None),
        ]


def test_a_dead_letter_retried_is_reported_again_only_when_final_again(app, make, hooks):
    user = make.user()
    hooks.subscribe(user)
    message_id = make.message(user, ["91230001"])
    make.deliver(failing=frozenset({"91230001"}))
    with app.app_context():
        db.session.execute(WebhookOutboxEntry.__table__.delete())
        db.session.commit()
        dead_letter.retry(db.session, [db.session.scalar(select(DeadLetter.id))])
        assert outbox() == []  # back to pending: nothing final
    make.deliver()
    with app.app_context():
        assert outbox() == [
            (user.id, "recipient.final", message_id, recipient_ids(message_id)),
            (user.id, "message.final", message_id, None),
        ]


def test_changes_of_a_transaction_closed_without_commit_are_forgotten(app, make, hooks):
    user = make.user()
    hooks.subscribe(user)
    message_id = make.message(user, NUMBERS)
    with app.app_context():
        db.session.scalar(select(Recipient.id).limit(1))  # a transaction is open
        outbox_module.message_final(db.session, [message_id])
        db.session.close()  # neither committed nor rolled back by the use case
        with transaction(db.session):
            db.session.scalar(select(Recipient.id).limit(1))
        assert outbox() == []

"""The delivery queue: claims, leases, owner-only finishing, and derived message status."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from smspanel.models import DeadLetter, Message, Recipient, db, utcnow
from smspanel.services.delivery.claims import claim_due_recipients, release_claims
from smspanel.services.delivery.gateway import GatewayReply, GatewayUnreachable
from smspanel.services.delivery.outcomes import DeliveryOutcome, record_outcomes
from smspanel.services.message_status import derive_message_status


@pytest.mark.parametrize(
    ("total", "sent", "failed", "status"),
    [
        (3, 0, 0, "pending"),
        (3, 2, 0, "pending"),
        (3, 2, 1, "partial"),
        (3, 3, 0, "sent"),
        (3, 0, 3, "failed"),
        (1, 1, 0, "sent"),
    ],
)
def test_message_status_follows_its_recipients(total, sent, failed, status):
    assert derive_message_status(total, sent, failed) == status


OK = GatewayReply(200, "OK")


def test_a_claimed_recipient_is_not_claimed_twice(app, make):
    user = make.user()
    make.message(user, ["11112222", "33334444", "55556666"])
    with app.app_context():
        first = claim_due_recipients(db.session, "a", 2, 60)
        second = claim_due_recipients(db.session, "b", 10, 60)
        third = claim_due_recipients(db.session, "c", 10, 60)
    assert len(first) == 2 and len(second) == 1 and third == []
    assert {r.id for r in first}.isdisjoint({r.id for r in second})
    assert first[0].content == "Notice"


def test_an_expired_lease_is_claimed_again(app, make):
    make.message(make.user(), ["11112222"])
    with app.app_context():
        [claimed] = claim_due_recipients(db.session, "crashed", 10, 60)
        db.session.execute(
            update(Recipient).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
        [again] = claim_due_recipients(db.session, "rescuer", 10, 60)
        assert again.id == claimed.id
        # The crashed dispatcher's late result is ignored: the row is no longer its own.
        assert record_outcomes(db.session, "crashed", [DeliveryOutcome.sent(claimed, OK)]) == 0
        assert record_outcomes(db.session, "rescuer", [DeliveryOutcome.sent(again, OK)]) == 1
        assert db.session.scalar(select(Message.status)) == "sent"


def test_outcomes_update_counts_status_and_dead_letters(app, make):
    message_id = make.message(make.user(), ["11112222", "33334444"])
    with app.app_context():
        a, b = claim_due_recipients(db.session, "w", 10, 60)
        record_outcomes(
            db.session,
            "w",
            [
                DeliveryOutcome.sent(a, OK),
                DeliveryOutcome.refused(b, GatewayReply(401, "Unauthorized")),
            ],
        )
        message = db.session.get(Message, message_id)
        assert (message.status, message.sent_count, message.failed_count) == ("partial", 1, 1)
        assert message.completed_at is not None
        failed = db.session.get(Recipient, b.id)
        assert failed.status == "failed" and "401" in failed.error_message
        assert failed.claimed_by is None and failed.attempts == 1
        [entry] = db.session.scalars(select(DeadLetter)).all()
        assert (entry.recipient_id, entry.status, entry.error_type) == (b.id, "pending", "http_401")


def test_a_retry_waits_until_its_time(app, make):
    make.message(make.user(), ["11112222"])
    with app.app_context():
        [claimed] = claim_due_recipients(db.session, "w", 10, 60)
        retry = DeliveryOutcome.retry_later(claimed, GatewayUnreachable("refused"), 30)
        record_outcomes(db.session, "w", [retry])
        assert claim_due_recipients(db.session, "w", 10, 60) == []
        recipient = db.session.get(Recipient, claimed.id)
        assert recipient.status == "pending" and recipient.attempts == 1
        assert db.session.get(Message, claimed.message_id).status == "pending"


def test_released_claims_are_due_at_once(app, make):
    make.message(make.user(), ["11112222"])
    with app.app_context():
        [claimed] = claim_due_recipients(db.session, "stopping", 10, 600)
        release_claims(db.session, "stopping", [claimed.id])
        assert [r.id for r in claim_due_recipients(db.session, "other", 10, 60)] == [claimed.id]

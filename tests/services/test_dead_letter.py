"""Dead letters: retry puts the recipient back in the queue; abandon closes the entry."""

import pytest
from sqlalchemy import select

from smspanel.models import DeadLetter, Message, Recipient, db
from smspanel.services import dead_letter
from smspanel.services.delivery.claims import claim_due_recipients
from smspanel.services.delivery.gateway import GatewayReply
from smspanel.services.delivery.outcomes import DeliveryOutcome, record_outcomes


@pytest.fixture
def failed_message(make):
    """A message with one recipient sent and one refused by the gateway."""
    message_id = make.message(make.user(), ["11112222", "33334444"])
    make.deliver(failing=frozenset({"33334444"}))
    return message_id


def test_retry_requeues_the_recipient_and_reopens_the_message(app, failed_message):
    with app.app_context():
        assert dead_letter.status_counts(db.session)["pending"] == 1
        entry_id = db.session.scalar(select(DeadLetter.id))
        assert dead_letter.retry(db.session, [entry_id]) == 1
        entry = db.session.get(DeadLetter, entry_id)
        assert (entry.status, entry.retry_count) == ("retried", 1)
        recipient = db.session.get(Recipient, entry.recipient_id)
        assert (recipient.status, recipient.attempts) == ("pending", 0)
        message = db.session.get(Message, failed_message)
        assert (message.status, message.failed_count, message.completed_at) == ("pending", 0, None)
        [again] = claim_due_recipients(db.session, "w2", 10, 60)
        record_outcomes(
            db.session,
            "w2",
            [DeliveryOutcome.refused(again, GatewayReply(401, "again"))],
        )
        entry = db.session.get(DeadLetter, entry_id)
        db.session.refresh(entry)
        assert entry.status == "pending"
        assert entry.error_message == "gateway answered HTTP 401: again"
        assert db.session.scalar(select(DeadLetter.id).where(DeadLetter.id != entry_id)) is None


def test_abandon_only_pending_entries(app, failed_message):
    with app.app_context():
        entry_id = db.session.scalar(select(DeadLetter.id))
        dead_letter.abandon(db.session, entry_id)
        assert db.session.get(DeadLetter, entry_id).status == "abandoned"
        with pytest.raises(dead_letter.DeadLetterError):
            dead_letter.retry(db.session, [entry_id])
        assert db.session.get(Message, failed_message).status == "partial"

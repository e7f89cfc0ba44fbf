"""Packing: outbox entries become deliveries, a message's recipients merged into events of at
most 1,000, each body built once with its event id, the entries gone in the same
transaction; a removed webhook's entries are dropped."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from smspanel.models import Webhook, WebhookDelivery, WebhookOutboxEntry, db, utcnow
from smspanel.services.delivery.claims import claim_due_recipients
from smspanel.services.delivery.gateway import GatewayReply
from smspanel.services.delivery.outcomes import DeliveryOutcome, record_outcomes
from smspanel.services.transactions import transaction
from smspanel.services.webhooks.packing import (
    MAX_RECIPIENTS_PER_EVENT,
    pack_due,
    pack_outbox,
)
from smspanel.services.webhooks.retry_window import RETRY_WINDOW
from tests.services.webhooks.conftest import outbox

OK = GatewayReply(200, "OK")


def deliver_in_batches(batch: int) -> None:
    """Play a dispatcher recording results `batch` at a time, as at a high rate."""
    claimed = claim_due_recipients(db.session, "w", 100_000, 60)
    for start in range(0, len(claimed), batch):
        outcomes = [DeliveryOutcome.sent(c, OK) for c in claimed[start : start + batch]]
        record_outcomes(db.session, "w", outcomes)


def deliveries() -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_a_messages_recipients_are_merged_into_events_of_at_most_1000(app, make, hooks):
    user = make.user()
    hooks.subscribe(user)
    message_id = make.message(user, [f"9{n:07d}" for n in range(2500)])
    with app.app_context():
        deliver_in_batches(32)
        assert len(outbox()) > 2500 // 32
        made = pack_outbox(db.session)
        rows = deliveries()
        assert made == len(rows) == 4
        assert outbox() == []
        assert [(r.event_type, r.recipient_count) for r in rows] == [
            ("recipient.final", MAX_RECIPIENTS_PER_EVENT),
            ("recipient.final", MAX_RECIPIENTS_PER_EVENT),
            ("recipient.final", 500),
            ("message.final", 0),
        ]
        bodies = [json.loads(r.payload) for r in rows]
        reported = [rec["id"] for b in bodies[:3] for rec in b["data"]["recipients"]]
        assert len(reported) == len(set(reported)) == 2500 and reported == sorted(reported)
        assert {b["data"]["message_id"] for b in bodies[:3]} == {message_id}
        assert bodies[3]["data"]["id"] == message_id
        assert bodies[3]["data"]["status"] == "sent"
        assert bodies[3]["data"]["success_count"] == 2500


def test_each_event_is_stored_as_the_exact_body_to_post_with_its_id(app, make, hooks):
    user = make.user()
    hooks.subscribe(user)
    make.message(user, ["91234567"])
    make.deliver()
    with app.app_context():
        before = utcnow()
        pack_outbox(db.session)
        for row in deliveries():
            body = json.loads(row.payload)
            assert list(body) == ["id", "type", "created_at", "data"]
            assert body["id"] == row.event_id and uuid.UUID(body["id"]).version == 4
            assert body["type"] == row.event_type
            assert body["created_at"].endswith("+08:00")
            assert (row.status, row.attempts, row.user_id) == ("pending", 0, user.id)
            assert row.retry_until - row.created_at == RETRY_WINDOW
            assert row.next_attempt_at >= before
        [recipient_event, _message_event] = [json.loads(r.payload) for r in deliveries()]
        [recipient] = recipient_event["data"]["recipients"]
        assert (recipient["phone"], recipient["status"], recipient["attempts"]) == (
            "91234567",
            "sent",
            1,
        )


def test_entries_of_a_removed_webhook_are_dropped(app, make, hooks):
    user, other = make.user(), make.user()
    hooks.subscribe(user)
    hooks.subscribe(other)
    make.message(user, ["91234567"])
    kept = make.message(other, ["91234568"])
    make.deliver()
    hooks.remove(user)
    with app.app_context():
        assert pack_outbox(db.session) == 2
        assert {(r.user_id, r.message_id) for r in deliveries()} == {(other.id, kept)}
        assert outbox() == []


def test_entries_of_an_event_no_longer_subscribed_are_dropped(app, make, hooks):
    user = make.user()
    hooks.subscribe(user)
    make.message(user, ["91234567"])
    make.deliver()
    with app.app_context():
        db.session.execute(update(Webhook).values(events="message.final"))
        db.session.commit()
        pack_outbox(db.session)
        assert [r.event_type for r in deliveries()] == ["message.final"]


def test_a_pack_is_due_after_a_second_or_at_1000_recipients_of_a_message(app, make, hooks):
    user = make.user()
    hooks.subscribe(user, events="recipient.final")
    make.message(user, [f"9{n:07d}" for n in range(1200)])
    with app.app_context():
        assert not pack_due(db.session)  # nothing waits
        claimed = claim_due_recipients(db.session, "w", 10_000, 60)
        record_outcomes(db.session, "w", [DeliveryOutcome.sent(c, OK) for c in claimed[:999]])
        assert not pack_due(db.session)  # young, and fewer than 1000
        assert pack_due(db.session, utcnow() + timedelta(seconds=1.1))
        record_outcomes(db.session, "w", [DeliveryOutcome.sent(c, OK) for c in claimed[999:1000]])
        assert pack_due(db.session)  # 1000 of one message
        pack_outbox(db.session)
        assert not pack_due(db.session, utcnow() + timedelta(seconds=5))


def test_two_packers_never_pack_the_same_entry(app, make, hooks):
    user = make.user()
    hooks.subscribe(user, events="recipient.final")
    make.message(user, [f"9{n:07d}" for n in range(300)])
    with app.app_context():
        deliver_in_batches(10)
        engine = db.engine
        first, second = Session(engine), Session(engine)
        made: list[int] = []
        try:
            with transaction(first):  # the first pack holds its entries until it commits
                made.append(pack_outbox(first))
                other = threading.Thread(target=lambda: made.append(pack_outbox(second)))
                other.start()
                time.sleep(0.3)
            other.join(10)
        finally:
            first.close()
            second.close()
        # Servers skip the locked entries; SQLite's second packer waits for the write lock
        # and then finds none left.
        assert made == [1, 0]
        [row] = deliveries()
        assert row.recipient_count == 300
        assert db.session.scalar(select(WebhookOutboxEntry.id)) is None

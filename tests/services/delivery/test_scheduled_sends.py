"""A scheduled send waits in the queue until its time; the claim that takes it starts it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from smspanel.models import Message, Recipient, db, utcnow
from smspanel.services.delivery.claims import claim_due_recipients
from smspanel.services.delivery.gateway import GatewayReply
from smspanel.services.delivery.outcomes import DeliveryOutcome, record_outcomes
from smspanel.services.personalisation import check_rows
from smspanel.services.scheduling import started_late
from smspanel.services.sending import accept_personalised_send, accept_send
from tests.campaign_helpers import assert_counts_add_up, bring_forward, make_template

OK = GatewayReply(200, "OK")


def test_a_scheduled_send_is_queued_for_its_time_and_not_claimed_before(app, make):
    user = make.user()
    at = utcnow() + timedelta(hours=2)
    with app.app_context():
        accepted = accept_send(db.session, user.id, ["91234567", "98765432"], "Later", at)
        assert (accepted.status, accepted.scheduled_at) == ("scheduled", at)
        message = db.session.get(Message, accepted.id)
        assert (message.status, message.scheduled_at, message.started_at) == ("scheduled", at, None)
        due = db.session.scalars(select(Recipient.next_attempt_at)).all()
        assert due == [at, at]
        assert claim_due_recipients(db.session, "w", 100, 60) == []
        assert db.session.get(Message, accepted.id).status == "scheduled"


def test_once_due_it_is_claimed_and_turns_pending_with_its_start_time(app, make):
    user = make.user()
    with app.app_context():
        message_id = accept_send(
            db.session, user.id, ["91234567", "98765432"], "Later", utcnow() + timedelta(hours=2)
        ).id
        at = bring_forward(db.session, message_id)
        before = utcnow()
        first = claim_due_recipients(db.session, "w", 1, 60)
        assert [c.message_id for c in first] == [message_id]
        message = db.session.get(Message, message_id)
        assert message.status == "pending"
        assert before <= message.started_at <= utcnow()
        assert not started_late(at, message.started_at)

        started = message.started_at
        [second] = claim_due_recipients(db.session, "w", 10, 60)  # later claims keep the start
        db.session.expire_all()
        assert db.session.get(Message, message_id).started_at == started
        record_outcomes(db.session, "w", [DeliveryOutcome.sent(c, OK) for c in (*first, second)])
        message = assert_counts_add_up(db.session, message_id)
        assert (message.status, message.sent_count) == ("sent", 2)


def test_a_schedule_missed_while_nothing_ran_is_sent_and_shown_late(app, make):
    user = make.user()
    with app.app_context():
        message_id = accept_send(
            db.session, user.id, ["91234567"], "Later", utcnow() + timedelta(hours=2)
        ).id
        at = bring_forward(db.session, message_id, ago=timedelta(minutes=10))
        assert len(claim_due_recipients(db.session, "w", 10, 60)) == 1
        message = db.session.get(Message, message_id)
        assert message.status == "pending" and started_late(at, message.started_at)


def test_older_due_work_goes_first(app, make):
    user = make.user()
    with app.app_context():
        now_id = accept_send(db.session, user.id, ["91234567"], "Now").id
        late_id = accept_send(
            db.session, user.id, ["98765432"], "Later", utcnow() + timedelta(hours=2)
        ).id
        bring_forward(db.session, late_id, ago=timedelta(minutes=5))
        assert [c.message_id for c in claim_due_recipients(db.session, "w", 1, 60)] == [late_id]
        assert [c.message_id for c in claim_due_recipients(db.session, "w", 1, 60)] == [now_id]


def test_a_scheduled_personalised_send_keeps_each_text_until_it_goes(app, make):
    user = make.user()
    with app.app_context():
        template_id = make_template(db.session, "Dear ((name))")
        check = check_rows(
            "Dear ((name))", [(1, "91234567", {"name": "Ada"}), (2, "98765432", {"name": "陳"})]
        )
        accepted = accept_personalised_send(
            db.session,
            user.id,
            template_id,
            "Dear ((name))",
            check.rows,
            scheduled_at=utcnow() + timedelta(days=1),
        )
        assert (accepted.status, accepted.segments) == ("scheduled", 2)
        assert claim_due_recipients(db.session, "w", 10, 60) == []
        bring_forward(db.session, accepted.id)
        claimed = claim_due_recipients(db.session, "w", 10, 60)
        assert [(c.phone, c.content) for c in claimed] == [
            ("91234567", "Dear Ada"),
            ("98765432", "Dear 陳"),
        ]
        message = db.session.get(Message, accepted.id)
        assert (message.personalised, message.template_id, message.content) == (
            True,
            template_id,
            "Dear ((name))",
        )


@pytest.mark.parametrize("count", [1, 499, 500, 2_000])
def test_every_recipient_of_a_send_of_any_size_is_queued_the_same_way(app, make, count):
    """Large sends write what their recipients share into the statement once; small ones
    pass it per row. Either way each row is the same."""
    user = make.user()
    at = utcnow() + timedelta(hours=2)
    numbers = [str(60_000_000 + n) for n in range(count)]
    with app.app_context():
        message_id = accept_send(db.session, user.id, numbers, "Later", at).id
        rows = db.session.execute(
            select(
                Recipient.message_id,
                Recipient.status,
                Recipient.attempts,
                Recipient.maybe_duplicate,
                Recipient.next_attempt_at,
                Recipient.claimed_by,
                Recipient.content,
            ).distinct()
        ).all()
        assert [tuple(r) for r in rows] == [(message_id, "pending", 0, False, at, None, None)]
        stamps = db.session.scalars(select(Recipient.updated_at).distinct()).all()
        assert len(stamps) == 1 and stamps[0] <= utcnow()
        phones = db.session.scalars(select(Recipient.phone).order_by(Recipient.id)).all()
        assert phones == numbers
        bring_forward(db.session, message_id)
        assert len(claim_due_recipients(db.session, "w", 5_000, 60)) == count

"""The delivery queue: claims, leases, owner-only finishing, and derived message status."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from smspanel.models import HELD_UNTIL, DeadLetter, Message, Recipient, db, utcnow
from smspanel.services.delivery import queue_order
from smspanel.services.delivery.claims import claim_due_recipients, release_claims
from smspanel.services.delivery.gateway import GatewayReply, GatewayUnreachable
from smspanel.services.delivery.outcomes import DeliveryOutcome, record_outcomes
from smspanel.services.delivery.queue_order import (
    COME_DUE_IN_LATER_RANGE,
    DUE_IN_CLAIM_ORDER,
    HEAD_OF_LANE,
    LATER,
    NORMAL_LANE,
    URGENT_LANE,
    due_out_of_turn,
    later_turn,
    turn_when_due,
)
from smspanel.services.message_status import derive_message_status
from smspanel.services.sending import accept_send
from tests.campaign_helpers import bring_forward, lapse_leases
from tests.queries import analyse, assert_reads_index_in_order


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
URGENT = {"priority": "urgent"}
HOUR = timedelta(hours=1)


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


# --- the claim order: the urgent lane, and messages taking turns (queue_order.py) ---------


def numbers(count: int, first: int = 61_000_000) -> list[str]:
    return [str(first + n) for n in range(count)]


def deliver(limit: int) -> list[int]:
    """One dispatcher's claim of up to `limit`, sent at once: the message of each, in order."""
    claimed = claim_due_recipients(db.session, "w", limit, 60)
    record_outcomes(db.session, "w", [DeliveryOutcome.sent(c, OK) for c in claimed])
    return [c.message_id for c in claimed]


def hold(message_id: int) -> None:
    """Stored as a send awaiting approval is: due at HELD_UNTIL, its turns at that time."""
    db.session.execute(
        update(Recipient)
        .where(Recipient.message_id == message_id)
        .values(next_attempt_at=HELD_UNTIL, turn=turn_when_due(HELD_UNTIL))
    )
    db.session.commit()


def test_urgent_recipients_are_claimed_before_every_normal_one(app, make):
    user = make.user()
    with app.app_context():
        large = accept_send(db.session, user.id, numbers(30), "Fees").id
        assert deliver(5) == [large] * 5
        urgent = accept_send(db.session, user.id, numbers(2, 91_000_000), "Typhoon", **URGENT).id
        assert db.session.get(Message, urgent).priority == "urgent"
        assert deliver(3) == [urgent, urgent, large]


def test_a_later_single_sms_waits_a_turn_not_for_the_rest_of_a_large_send(app, make):
    user = make.user()
    with app.app_context():
        large = accept_send(db.session, user.id, numbers(40), "Fees").id
        assert deliver(10) == [large] * 10
        single = accept_send(db.session, user.id, ["91234567"], "Meeting moved").id
        assert deliver(2) == [large, single]
        assert deliver(100) == [large] * 29


def test_a_later_large_send_takes_turns_one_for_one(app, make):
    user = make.user()
    with app.app_context():
        first = accept_send(db.session, user.id, numbers(20), "First").id
        assert deliver(4) == [first] * 4
        second = accept_send(db.session, user.id, numbers(20, 62_000_000), "Second").id
        assert deliver(8) == [first, second] * 4
        third = accept_send(db.session, user.id, numbers(3, 63_000_000), "Third").id
        assert deliver(9) == [first, second, third] * 3
        assert deliver(100) == [first, second] * 9 + [second] * 4


def test_rows_not_due_are_neither_claimed_nor_numbered_at_the_head(app, make):
    user = make.user()
    with app.app_context():
        later = utcnow() + timedelta(hours=2)
        scheduled = accept_send(db.session, user.id, numbers(3), "Later", later).id
        held = accept_send(db.session, user.id, numbers(3, 62_000_000), "Awaiting").id
        hold(held)
        leased = accept_send(db.session, user.id, numbers(2, 63_000_000), "Leased").id
        claim_due_recipients(db.session, "other", 10, 60)  # on the wire elsewhere
        due = accept_send(db.session, user.id, numbers(2, 64_000_000), "Now").id
        turns = dict(
            db.session.execute(
                select(Recipient.message_id, func.min(Recipient.turn)).group_by(
                    Recipient.message_id
                )
            ).all()
        )
        assert deliver(100) == [due, due]
        assert deliver(100) == []
    assert turns[scheduled] == later_turn(later) and turns[held] == later_turn(HELD_UNTIL)
    assert turns[leased] > later_turn(utcnow())  # out of the lane until the lease ends
    assert turns[due] == 0  # the lane was empty: nothing due was ahead of it


def test_a_scheduled_send_takes_turns_with_the_queue_once_due(app, make):
    user = make.user()
    with app.app_context():
        scheduled = accept_send(
            db.session, user.id, numbers(3), "Later", utcnow() + timedelta(hours=2)
        ).id
        large = accept_send(db.session, user.id, numbers(20, 62_000_000), "Fees").id
        assert deliver(4) == [large] * 4
        bring_forward(db.session, scheduled)
        assert deliver(6) == [large, scheduled] * 3
        assert db.session.get(Message, scheduled).status == "sent"


def test_a_lapsed_lease_or_a_retry_comes_back_at_the_head_of_its_lane(app, make):
    user = make.user()
    with app.app_context():
        large = accept_send(db.session, user.id, numbers(20), "Fees").id
        crashed = claim_due_recipients(db.session, "crashed", 2, 60)
        assert deliver(3) == [large] * 3  # not the leased two
        lapse_leases(db.session, large)
        assert [c.id for c in claim_due_recipients(db.session, "w", 2, 60)] == [
            c.id for c in crashed
        ]
        [tried] = claim_due_recipients(db.session, "w", 1, 60)
        retry = DeliveryOutcome.retry_later(tried, GatewayUnreachable("refused"), 0)
        record_outcomes(db.session, "w", [retry])
        again = claim_due_recipients(db.session, "w", 2, 60)
        assert tried.id in [c.id for c in again]


def test_an_approved_send_is_brought_forward_a_batch_at_a_time(app, make, monkeypatch):
    monkeypatch.setattr(queue_order, "BRING_FORWARD_AT_ONCE", 2)
    user = make.user()
    with app.app_context():
        held = accept_send(db.session, user.id, numbers(5), "Awaiting").id
        hold(held)
        assert deliver(100) == []
        now = utcnow()  # approved: due now, at the turn that time gives it
        db.session.execute(
            update(Recipient)
            .where(Recipient.message_id == held)
            .values(next_attempt_at=now, turn=turn_when_due(now))
        )
        db.session.commit()
        assert deliver(1) == [held]
        in_the_lane = db.session.scalar(
            select(func.count()).where(Recipient.status == "pending", Recipient.turn < LATER)
        )
        assert in_the_lane == 1  # two brought forward, one of them claimed
        assert deliver(100) == [held] * 4


def test_a_due_row_left_in_the_later_range_is_still_claimed_after_the_lanes(app, make):
    """A due time moved into the past without `turn_when_due` (nothing in the app does)."""
    user = make.user()
    with app.app_context():
        moved = accept_send(db.session, user.id, ["91234567"], "Later", utcnow() + HOUR).id
        db.session.execute(update(Recipient).values(next_attempt_at=utcnow()))
        db.session.commit()
        due = accept_send(db.session, user.id, numbers(2), "Now").id
        assert deliver(10) == [due, due, moved]


def test_the_claims_queries_read_their_index_in_order(app, make):
    """On every database: the lanes, the head and the bring-forward seek read the claim-order
    index alone, in order; the left-over look reads the due index."""
    user = make.user()
    with app.app_context():
        accept_send(db.session, user.id, numbers(1500), "Fees")
        accept_send(db.session, user.id, numbers(1500, 62_000_000), "Later", utcnow() + HOUR)
        accept_send(db.session, user.id, numbers(5, 63_000_000), "Typhoon", **URGENT)
        claim_due_recipients(db.session, "w", 50, 60)
        analyse(db.session)
        now = utcnow()
        locking = db.engine.dialect.name != "sqlite"  # FOR UPDATE SKIP LOCKED on the servers
        checks = [
            (DUE_IN_CLAIM_ORDER.params(now=now, limit=64), locking),
            (COME_DUE_IN_LATER_RANGE.params(due_by_turn=later_turn(now) + 2**20, limit=64), False),
            (HEAD_OF_LANE.params(lane=NORMAL_LANE), False),
            (HEAD_OF_LANE.params(lane=URGENT_LANE), False),
        ]
        for statement, locked in checks:
            assert_reads_index_in_order(
                db.session, statement, "ix_recipients_claim_order", locked=locked
            )
        assert_reads_index_in_order(
            db.session,
            due_out_of_turn(now, 64, [1, 2]),
            "ix_recipients_status_next_attempt_at_turn",
            locked=locking,
            ties_sorted=True,
        )
        db.session.rollback()

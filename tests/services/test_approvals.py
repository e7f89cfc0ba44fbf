"""Maker-checker: a send at its department's approval threshold waits, nothing of it is
delivered until an approver other than its maker approves it, and a rejection is final."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from sqlalchemy import select, update

from smspanel.models import (
    HELD_UNTIL,
    AuditEvent,
    Department,
    Message,
    Recipient,
    db,
    utcnow,
)
from smspanel.services.approvals import (
    InvalidReason,
    NotAnApprover,
    NotAwaitingApproval,
    OwnSend,
    WaitingSendNotFound,
    approve,
    list_waiting,
    reject,
    waiting_count,
)
from smspanel.services.cancelling import cancel_message
from smspanel.services.delivery.claims import claim_due_recipients
from smspanel.services.message_status import derive_message_status
from smspanel.services.personalisation import check_rows
from smspanel.services.scheduling import started_late
from smspanel.services.sending import accept_personalised_send, accept_send
from tests.campaign_helpers import assert_counts_add_up, make_template, recipient_statuses

NUMBERS = ["91234567", "98765432", "61234567"]


@pytest.fixture
def unit(make) -> Department:
    return make.department(threshold=3)


@pytest.fixture
def maker(make, unit):
    return make.user("maker", department=unit)


@pytest.fixture
def checker(make, unit):
    return make.user("checker", department=unit, role="approver")


def send(user, numbers=NUMBERS, scheduled_at=None, content="Typhoon signal 8: schools closed"):
    return accept_send(db.session, user.id, numbers, content, scheduled_at)


def held_due_times(message_id: int) -> set:
    return set(
        db.session.scalars(
            select(Recipient.next_attempt_at).where(
                Recipient.message_id == message_id, Recipient.status == "pending"
            )
        )
    )


def audit_trail(message_id: int) -> list[tuple[str, str]]:
    return [
        (e.action, e.detail)
        for e in db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.target == f"message:{message_id}")
            .order_by(AuditEvent.id)
        )
    ]


# --- held ---------------------------------------------------------------------------------


def test_a_send_at_the_threshold_waits_and_nothing_of_it_is_claimed(app, maker, monkeypatch):
    rings = []
    monkeypatch.setattr("smspanel.services.sending.ring_after_commit", rings.append)
    with app.app_context():
        accepted = send(maker)
        assert accepted.status == "awaiting_approval"
        message = db.session.get(Message, accepted.id)
        assert (message.status, message.department_id) == ("awaiting_approval", maker.department_id)
        assert recipient_statuses(db.session, accepted.id) == {"pending": 3}
        assert held_due_times(accepted.id) == {HELD_UNTIL}
        assert claim_due_recipients(db.session, "w", 100, 60) == []
        assert_counts_add_up(db.session, accepted.id)
        assert [a for a, _ in audit_trail(accepted.id)] == ["sms.send", "approval.request"]
    assert rings == []  # the doorbell stays silent: nothing is due


def test_below_the_threshold_or_without_one_a_send_goes_as_before(app, make, maker):
    no_threshold = make.user(department=make.department())
    no_department = make.user()
    with app.app_context():
        assert send(maker, NUMBERS[:2]).status == "pending"
        assert send(no_threshold, NUMBERS).status == "pending"
        assert send(no_department, NUMBERS).status == "pending"


def test_every_number_given_counts_towards_the_threshold_skipped_ones_too(app, maker):
    with app.app_context():
        accepted = send(maker, ["91234567", "98765432", "21234567"])  # a fixed line is skipped
        assert (accepted.status, accepted.skipped_count) == ("awaiting_approval", 1)
        assert recipient_statuses(db.session, accepted.id) == {"pending": 2, "skipped": 1}
        assert_counts_add_up(db.session, accepted.id)


def test_scheduled_and_personalised_sends_wait_too(app, maker):
    with app.app_context():
        at = utcnow() + timedelta(hours=3)
        scheduled = send(maker, scheduled_at=at)
        assert (scheduled.status, scheduled.scheduled_at) == ("awaiting_approval", at)
        assert held_due_times(scheduled.id) == {HELD_UNTIL}
        text = "Dear ((name)), your clinic is closed today."
        template_id = make_template(db.session, text)
        rows = check_rows(text, [(i, n, {"name": f"P{i}"}) for i, n in enumerate(NUMBERS)]).rows
        personal = accept_personalised_send(db.session, maker.id, template_id, text, rows)
        assert personal.status == "awaiting_approval"
        assert held_due_times(personal.id) == {HELD_UNTIL}


def test_a_large_send_is_held_like_a_small_one(app, maker):
    """From 500 rows the shared values are written into the statement: the held time too."""
    numbers = [f"6{n:07d}" for n in range(600)]
    with app.app_context():
        accepted = send(maker, numbers)
        assert accepted.status == "awaiting_approval"
        assert held_due_times(accepted.id) == {HELD_UNTIL}
        assert claim_due_recipients(db.session, "w", 1000, 60) == []


def test_the_status_of_a_held_or_rejected_message_is_kept_by_the_counts():
    assert derive_message_status(3, 0, 0, current="awaiting_approval") == "awaiting_approval"
    assert derive_message_status(3, 0, 0, 1, current="awaiting_approval") == "awaiting_approval"
    assert derive_message_status(3, 0, 0, 0, 3, current="awaiting_approval") == "cancelled"
    assert derive_message_status(3, 0, 0, 0, 3, current="rejected") == "rejected"


# --- approving ----------------------------------------------------------------------------


def test_an_approved_send_now_is_queued_at_once_and_delivered(
    app, make, maker, checker, monkeypatch
):
    rings = []
    monkeypatch.setattr("smspanel.services.approvals.ring_after_commit", rings.append)
    with app.app_context():
        message_id = send(maker).id
        decision = approve(db.session, message_id, checker.id)
        assert (decision.status, decision.late) == ("pending", False)
        assert len(rings) == 1  # the doorbell, once the approval has committed
        message = db.session.get(Message, message_id, populate_existing=True)
        assert (message.status, message.decided_by_id, message.decided_by_name) == (
            "pending",
            checker.id,
            "checker",
        )
        assert message.decided_at is not None and message.started_at is None
        assert max(held_due_times(message_id)) <= utcnow()
    make.deliver()
    with app.app_context():
        message = assert_counts_add_up(db.session, message_id)
        assert (message.status, message.sent_count) == ("sent", 3)
        trail = audit_trail(message_id)
        assert [a for a, _ in trail] == ["sms.send", "approval.request", "approval.approve"]
        assert trail[-1][1] == f"made by user:{maker.id} maker; 3 recipient(s); queued now"


def test_an_approved_send_takes_its_turn_beside_a_large_queued_one(app, make, maker, checker):
    """Approving puts it in the fair order, not behind everything queued before it."""
    with app.app_context():
        large = accept_send(db.session, make.user().id, [f"6{n:07d}" for n in range(60)], "x")
        message_id = send(maker).id
        approve(db.session, message_id, checker.id)
        claimed = claim_due_recipients(db.session, "w", 6, 30)
    by_message = [c.message_id for c in claimed]
    assert by_message.count(message_id) == 3 and by_message.count(large.id) == 3


def test_an_approved_send_whose_time_is_ahead_waits_for_it(app, maker, checker):
    with app.app_context():
        at = utcnow() + timedelta(hours=2)
        message_id = send(maker, scheduled_at=at).id
        decision = approve(db.session, message_id, checker.id)
        assert (decision.status, decision.scheduled_at, decision.late) == ("scheduled", at, False)
        message = db.session.get(Message, message_id, populate_existing=True)
        assert message.status == "scheduled"
        assert held_due_times(message_id) == {at}
        assert claim_due_recipients(db.session, "w", 100, 60) == []
        assert "scheduled for" in audit_trail(message_id)[-1][1]


def test_approved_after_its_time_it_goes_now_and_shows_late(app, make, maker, checker):
    with app.app_context():
        message_id = send(maker, scheduled_at=utcnow() + timedelta(hours=2)).id
        passed = utcnow() - timedelta(minutes=30)  # it waited for approval past its time
        db.session.execute(
            update(Message).where(Message.id == message_id).values(scheduled_at=passed)
        )
        db.session.commit()
        decision = approve(db.session, message_id, checker.id)
        assert (decision.status, decision.late) == ("pending", True)
        message = db.session.get(Message, message_id, populate_existing=True)
        assert message.status == "pending"
        assert started_late(message.scheduled_at, message.started_at)
        assert "late" in audit_trail(message_id)[-1][1]
        assert len(claim_due_recipients(db.session, "w", 100, 60)) == 3


def test_an_admin_approves_any_departments_send(app, make, maker):
    admin = make.user("boss", is_admin=True)  # of no department
    with app.app_context():
        message_id = send(maker).id
        assert approve(db.session, message_id, admin.id).status == "pending"


# --- rejecting ----------------------------------------------------------------------------


def test_a_rejected_send_is_final_and_never_delivered(app, make, maker, checker):
    with app.app_context():
        message_id = send(maker, ["91234567", "98765432", "21234567"]).id
        assert reject(db.session, message_id, checker.id, "  Wrong date in the text  ").status == (
            "rejected"
        )
        message = assert_counts_add_up(db.session, message_id)
        assert (message.status, message.rejection_reason) == ("rejected", "Wrong date in the text")
        assert (message.cancelled_count, message.skipped_count, message.pending_count) == (2, 1, 0)
        assert (message.decided_by_name, message.completed_at is not None) == ("checker", True)
        assert recipient_statuses(db.session, message_id) == {"cancelled": 2, "skipped": 1}
        assert audit_trail(message_id)[-1] == (
            "approval.reject",
            f"made by user:{maker.id} maker; 3 recipient(s); reason: Wrong date in the text",
        )
        with pytest.raises(NotAwaitingApproval, match="rejected"):
            approve(db.session, message_id, checker.id)
    make.deliver()
    with app.app_context():
        assert db.session.get(Message, message_id).status == "rejected"


@pytest.mark.parametrize("reason", [None, "", "   \n", "x" * 501])
def test_a_rejection_needs_a_reason_of_at_most_500_characters(app, maker, checker, reason):
    with app.app_context():
        message_id = send(maker).id
        with pytest.raises(InvalidReason):
            reject(db.session, message_id, checker.id, reason)
        message = db.session.get(Message, message_id, populate_existing=True)
        assert (message.status, message.decided_at) == ("awaiting_approval", None)
        assert reject(db.session, message_id, checker.id, "x" * 500).status == "rejected"


# --- who may decide -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["approver", "sender"])
@pytest.mark.parametrize("is_admin", [False, True])
def test_nobody_decides_on_their_own_send_whatever_their_role(app, make, unit, role, is_admin):
    own = make.user(department=unit, role=role, is_admin=is_admin)
    with app.app_context():
        message_id = send(own).id
        refused = OwnSend if (role == "approver" or is_admin) else NotAnApprover
        with pytest.raises(refused):
            approve(db.session, message_id, own.id)
        with pytest.raises(refused):
            reject(db.session, message_id, own.id, "mine")
        assert db.session.get(Message, message_id).status == "awaiting_approval"


def test_senders_viewers_and_approvers_without_a_department_cannot_decide(app, make, maker, unit):
    sender = make.user(department=unit)
    viewer = make.user(department=unit, role="viewer")
    loose = make.user(role="approver")
    with app.app_context():
        message_id = send(maker).id
        for user in (sender, viewer, loose):
            with pytest.raises(NotAnApprover):
                approve(db.session, message_id, user.id)
            with pytest.raises(NotAnApprover):
                reject(db.session, message_id, user.id, "no")
        assert db.session.get(Message, message_id).status == "awaiting_approval"


def test_another_departments_send_is_not_found_by_its_approvers(app, make, maker):
    other = make.user(department=make.department(threshold=3), role="approver")
    with app.app_context():
        message_id = send(maker).id
        with pytest.raises(WaitingSendNotFound):
            approve(db.session, message_id, other.id)
        with pytest.raises(WaitingSendNotFound):
            reject(db.session, message_id, other.id, "not ours")
        with pytest.raises(WaitingSendNotFound):
            approve(db.session, 999_999, other.id)
        assert db.session.get(Message, message_id).status == "awaiting_approval"


def test_a_message_moved_maker_stays_with_the_department_it_was_sent_from(app, make, maker):
    with app.app_context():
        message_id = send(maker).id
    later = make.department()
    member_of_later = make.user(department=later, role="approver")
    make.assign(maker, later)
    with app.app_context(), pytest.raises(WaitingSendNotFound):
        approve(db.session, message_id, member_of_later.id)


def test_a_send_that_never_waited_is_not_awaiting_approval(app, make, checker, unit):
    small = make.user(department=unit)
    with app.app_context():
        message_id = send(small, NUMBERS[:1]).id
        with pytest.raises(NotAwaitingApproval, match="pending"):
            approve(db.session, message_id, checker.id)


# --- approving twice, and cancelling --------------------------------------------------------


def test_a_second_decision_is_told_the_first_was_made(app, make, maker, checker, unit):
    second = make.user(department=unit, role="approver")
    with app.app_context():
        message_id = send(maker).id
        approve(db.session, message_id, checker.id)
        with pytest.raises(NotAwaitingApproval):
            approve(db.session, message_id, second.id)
        with pytest.raises(NotAwaitingApproval):
            reject(db.session, message_id, second.id, "too late")
        message = db.session.get(Message, message_id, populate_existing=True)
        assert (message.status, message.decided_by_name) == ("pending", "checker")


@pytest.mark.parametrize("second", ["approve", "reject"])
def test_two_approvers_at_once_one_wins_and_the_other_is_told(app, make, maker, unit, second):
    """Two sessions on the real database (SQLite, PostgreSQL, MariaDB), started together."""
    approvers = [make.user(f"approver{n}", department=unit, role="approver") for n in range(2)]

    def decide(n: int, message_id: int, together: Barrier) -> str:
        with app.app_context():
            together.wait(10)
            try:
                if n == 1 and second == "reject":
                    reject(db.session, message_id, approvers[n].id, "wrong list")
                else:
                    approve(db.session, message_id, approvers[n].id)
            except NotAwaitingApproval:
                return "told"
            finally:
                db.session.remove()
            return "won"

    for attempt in range(4):
        with app.app_context():
            message_id = send(maker, content=f"Race {attempt}").id
        together = Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(decide, range(2), [message_id] * 2, [together] * 2))
        assert outcomes == ["told", "won"]
        with app.app_context():
            message = assert_counts_add_up(db.session, message_id)
            assert message.status in ("pending", "rejected")
            if message.status == "rejected":
                assert message.decided_by_name == "approver1"
            decisions = [a for a, _ in audit_trail(message_id) if a.startswith("approval.")]
            assert decisions[0] == "approval.request" and len(decisions) == 2
            if message.status == "rejected":
                assert recipient_statuses(db.session, message_id) == {"cancelled": 3}
            else:
                assert max(held_due_times(message_id)) < HELD_UNTIL


def test_its_maker_can_withdraw_a_waiting_send(app, maker, checker):
    with app.app_context():
        message_id = send(maker).id
        result = cancel_message(db.session, message_id)
        assert (result.status, result.cancelled_count) == ("cancelled", 3)
        assert_counts_add_up(db.session, message_id)
        with pytest.raises(NotAwaitingApproval, match="cancelled"):
            approve(db.session, message_id, checker.id)


def test_a_send_being_withdrawn_cannot_be_approved(app, maker, checker):
    """Between the cancel's two steps the message still says awaiting_approval."""
    with app.app_context():
        message_id = send(maker).id
        db.session.execute(
            update(Message).where(Message.id == message_id).values(cancelled_at=utcnow())
        )
        db.session.commit()
        with pytest.raises(NotAwaitingApproval):
            approve(db.session, message_id, checker.id)
        assert held_due_times(message_id) == {HELD_UNTIL}


# --- what approvers see --------------------------------------------------------------------


def test_approvers_list_their_departments_waiting_sends_and_admins_all(app, make, maker, checker):
    outsider = make.user(department=make.department(threshold=1))
    admin = make.user("boss", is_admin=True)
    numbers = [f"9{n:07d}" for n in range(12)] + ["21234567"]
    with app.app_context():
        ours = send(maker, numbers).id
        theirs = send(outsider, NUMBERS[:1]).id
        send(maker, NUMBERS[:1])  # below the threshold: not waiting
        page = list_waiting(db.session, checker)
        assert [w.message.id for w in page.items] == [ours]
        [item] = page.items
        assert (item.maker, item.own, item.stale) == ("maker", False, False)
        assert [r.phone for r in item.first_rows] == numbers[:10]
        assert item.skip_reasons == {"fixed_line": 1}
        assert item.total_segments == 12
        assert [w.message.id for w in list_waiting(db.session, admin).items] == [ours, theirs]
        assert (waiting_count(db.session, checker), waiting_count(db.session, admin)) == (1, 2)


def test_a_send_waiting_more_than_a_day_is_stale(app, maker, checker):
    with app.app_context():
        message_id = send(maker).id
        assert not list_waiting(db.session, checker).items[0].stale
        tomorrow = utcnow() + timedelta(hours=24, minutes=1)
        [item] = list_waiting(db.session, checker, now=tomorrow).items
        assert (item.message.id, item.stale) == (message_id, True)


def test_an_approvers_own_send_is_listed_but_not_counted_for_them(app, make, checker, unit):
    with app.app_context():
        message_id = send(checker).id
        [item] = list_waiting(db.session, checker).items
        assert (item.message.id, item.own) == (message_id, True)
        assert waiting_count(db.session, checker) == 0

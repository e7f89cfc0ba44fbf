"""Monthly quotas: an accept reserves its segments in its own transaction, a send that would
pass the quota is refused whole, concurrent sends never pass it together, and recipients
that are never sent give their segments back to the month their message was accepted in."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from threading import Barrier

import pytest
from sqlalchemy import func, select

from smspanel.models import DepartmentUsage, Message, db, utcnow
from smspanel.services import quotas
from smspanel.services.approvals import reject
from smspanel.services.cancelling import cancel_message
from smspanel.services.message_status import CountChange, adjust_message_counts
from smspanel.services.personalisation import check_rows
from smspanel.services.quotas import QuotaExceeded, month_bounds_utc, month_of, month_usage
from smspanel.services.sending import accept_personalised_send, accept_send
from smspanel.services.transactions import transaction
from tests.queries import recorded_statements
from tests.quota_helpers import usage
from tests.registers import opt_out

MOBILES = [f"9100{n:04d}" for n in range(10)]
FIXED_LINE = "28331234"
TWO_SEGMENTS = "x" * 161  # GSM-7: 153 per part


def test_the_month_is_the_hong_kong_calendar_month():
    assert month_of(datetime(2026, 11, 30, 15, 59)) == "2026-11"  # 23:59 HKT
    assert month_of(datetime(2026, 11, 30, 16, 0)) == "2026-12"  # midnight HKT
    assert month_bounds_utc("2026-12") == (datetime(2026, 11, 30, 16), datetime(2026, 12, 31, 16))
    assert month_bounds_utc("2027-01")[0] == datetime(2026, 12, 31, 16)
    assert quotas.parse_month("2026-13") is None and quotas.parse_month("2026-12") == "2026-12"


def test_a_send_takes_its_segments_times_the_recipients_it_sends_to(app, make):
    schools = make.department("Schools", quota=100)
    user = make.user(department=schools)
    with app.app_context():
        accept_send(db.session, user.id, [*MOBILES[:3], FIXED_LINE], TWO_SEGMENTS)
        accept_send(db.session, user.id, MOBILES[:1], "Short")
    # The fixed line is skipped, so not charged: 3 * 2 + 1 * 1.
    assert usage(app, schools) == (7, 2, 4)


def test_a_send_that_would_pass_the_quota_is_refused_whole_and_stores_nothing(app, make):
    schools = make.department("Schools", quota=5)
    user = make.user(department=schools)
    with app.app_context():
        accept_send(db.session, user.id, MOBILES[:2], TWO_SEGMENTS)  # 4 of 5
        with pytest.raises(QuotaExceeded) as refused:
            accept_send(db.session, user.id, MOBILES[:1], TWO_SEGMENTS)
        assert refused.value.figures == {"used": 4, "quota": 5, "needed": 2}
        assert "used 4 of its monthly quota of 5" in str(refused.value)
        assert db.session.scalar(select(func.count()).select_from(Message)) == 1
    assert usage(app, schools) == (4, 1, 2)
    with app.app_context():
        accept_send(db.session, user.id, MOBILES[:1], "Fits exactly")
    assert usage(app, schools) == (5, 2, 3)


def test_a_send_larger_than_the_whole_quota_is_refused_on_the_months_first_send(app, make):
    user = make.user(department=make.department("Schools", quota=3))
    with app.app_context(), pytest.raises(QuotaExceeded) as refused:
        accept_send(db.session, user.id, MOBILES[:4], "Hi")
    assert refused.value.figures == {"used": 0, "quota": 3, "needed": 4}


def test_a_large_send_that_cannot_fit_is_refused_before_its_rows_are_written(
    app, make, monkeypatch
):
    user = make.user(department=make.department("Schools", quota=1500))
    monkeypatch.setattr(quotas, "EARLY_READ_FROM", 3)
    with app.app_context():
        accept_send(db.session, user.id, MOBILES[:2], "Hi")  # below it: no early read
        with recorded_statements(app) as statements, pytest.raises(QuotaExceeded):
            accept_send(db.session, user.id, [f"61{n:06d}" for n in range(1500)], "Hi")
    assert not any(s.lstrip().upper().startswith("INSERT") for s in statements)


def test_the_final_check_is_under_the_rows_lock_not_the_early_read(app, make, monkeypatch):
    """The read before the inserts only refuses early; the reservation decides."""
    schools = make.department("Schools", quota=2)
    user = make.user(department=schools)
    monkeypatch.setattr(quotas, "check", lambda *args: None)
    with app.app_context():
        accept_send(db.session, user.id, MOBILES[:2], "Hi")
        with pytest.raises(QuotaExceeded):
            accept_send(db.session, user.id, MOBILES[2:3], "Hi")
        assert db.session.scalar(select(func.count()).select_from(Message)) == 1
    assert usage(app, schools) == (2, 1, 2)


def test_a_quota_of_zero_is_none_but_the_use_is_counted(app, make):
    schools = make.department("Schools", quota=0)
    user = make.user(department=schools)
    with app.app_context():
        accept_send(db.session, user.id, MOBILES, TWO_SEGMENTS)
    assert usage(app, schools) == (20, 1, 10)


def test_a_user_without_a_department_has_no_quota_and_counts_their_own_month(app, make):
    alice, bob = make.user(), make.user()
    with app.app_context():
        accept_send(db.session, alice.id, [*MOBILES[:3], FIXED_LINE], TWO_SEGMENTS)
        accept_send(db.session, bob.id, MOBILES[:1], "Not Alice's")
        assert db.session.scalar(select(func.count()).select_from(DepartmentUsage)) == 0
        own = month_usage(db.session, alice.id, utcnow())
    assert (own.segments_used, own.quota, own.messages, own.recipients) == (6, 0, 1, 3)
    assert own.department_id is None and own.percent is None and not own.warns


def test_the_usage_read_gives_the_departments_month_and_its_share(app, make):
    user = make.user(department=make.department("Clinics", quota=10))
    with app.app_context():
        accept_send(db.session, user.id, MOBILES[:4], TWO_SEGMENTS)
        read = month_usage(db.session, user.id, utcnow())
    assert (read.department_name, read.segments_used, read.quota, read.left) == (
        "Clinics",
        8,
        10,
        2,
    )
    assert (read.percent, read.warns, read.fits(2), read.fits(3)) == (80, True, True, False)


def test_a_cancel_gives_the_recipients_not_sent_back(app, make):
    schools = make.department("Schools", quota=100)
    user = make.user(department=schools)
    with app.app_context():
        message = accept_send(
            db.session, user.id, MOBILES[:5], TWO_SEGMENTS, utcnow() + timedelta(hours=1)
        )
        cancel_message(db.session, message.id, wait_seconds=0)
    assert usage(app, schools) == (0, 1, 0)  # the message was still sent from the month


def test_a_number_skipped_at_claim_time_gives_its_segments_back(app, make):
    schools = make.department("Schools", quota=100)
    user = make.user(department=schools)
    with app.app_context():
        accept_send(db.session, user.id, MOBILES[:3], TWO_SEGMENTS)
    opt_out(app, MOBILES[0])
    make.deliver()
    assert usage(app, schools) == (4, 1, 2)


def test_sent_and_failed_recipients_keep_their_segments(app, make):
    schools = make.department("Schools", quota=100)
    user = make.user(department=schools)
    with app.app_context():
        accept_send(db.session, user.id, MOBILES[:3], TWO_SEGMENTS)
    make.deliver(failing=frozenset(MOBILES[:1]))
    assert usage(app, schools) == (6, 1, 3)


def test_a_give_back_is_written_with_its_transaction_and_dropped_with_its_rollback(app, make):
    schools = make.department("Schools", quota=100)
    user = make.user(department=schools)
    with app.app_context():
        message = accept_send(db.session, user.id, MOBILES[:2], "Hi")
        with pytest.raises(RuntimeError), transaction(db.session):
            adjust_message_counts(db.session, {message.id: CountChange(cancelled=2)}, utcnow())
            raise RuntimeError("the use case failed")
        with transaction(db.session):
            db.session.execute(select(1))  # a later commit carries nothing left over
    assert usage(app, schools) == (2, 1, 2)


def test_segments_go_back_to_the_month_and_department_the_message_was_sent_from(
    app, make, monkeypatch
):
    schools = make.department("Schools", quota=100)
    user = make.user(department=schools)
    clinics = make.department("Clinics", quota=100)
    last_month = utcnow() - timedelta(days=40)
    monkeypatch.setattr("smspanel.services.sending.utcnow", lambda: last_month)
    with app.app_context():
        message = accept_send(db.session, user.id, MOBILES[:2], "Hi", utcnow() + timedelta(days=60))
    monkeypatch.undo()
    make.assign(user, clinics)
    with app.app_context():
        accept_send(db.session, user.id, MOBILES[:1], "From the clinics")
        cancel_message(db.session, message.id, wait_seconds=0)
    assert usage(app, schools, month_of(last_month)) == (0, 1, 0)
    assert usage(app, schools) == (0, 0, 0)
    assert usage(app, clinics) == (1, 1, 1)


def test_a_personalised_send_takes_its_rows_total_and_gives_back_their_mean(app, make):
    schools = make.department("Schools", quota=100)
    user = make.user(department=schools)
    template = "Dear ((name)), ((note))"
    rows = [
        (1, MOBILES[0], {"name": "Ann", "note": "x" * 200}),  # 2 segments
        (2, MOBILES[1], {"name": "Bo", "note": "ok"}),  # 1
        (3, MOBILES[2], {"name": "Cy", "note": "x" * 400}),  # 3
    ]
    later = utcnow() + timedelta(hours=1)
    with app.app_context():
        whole = accept_personalised_send(
            db.session, user.id, None, template, check_rows(template, rows).rows, later
        )
        assert usage(app, schools) == (6, 1, 3)
        cancel_message(db.session, whole.id, wait_seconds=0)
        assert usage(app, schools) == (0, 1, 0)
        with_a_fixed_line = check_rows(
            template, [*rows, (4, FIXED_LINE, {"name": "Di", "note": "x" * 400})]
        )
        skipping = accept_personalised_send(
            db.session, user.id, None, template, with_a_fixed_line.rows, later
        )
        assert skipping.segments == 6  # the skipped row is not charged
        assert usage(app, schools) == (6, 2, 3)
        cancel_message(db.session, skipping.id, wait_seconds=0)
    # The mean over all 4 of its rows for each of the 3 cancelled (6 * 3 // 4): the
    # approximation never gives back more than the send took.
    assert usage(app, schools) == (2, 2, 0)


@pytest.mark.parametrize("early_read", [False, True], ids=["as-sent", "early-read"])
def test_concurrent_sends_never_pass_the_quota_together(app, make, monkeypatch, early_read):
    """Threads with their own sessions race for the month's first sends (the row does not
    exist yet): exactly as many are accepted as fit, on every database. Small sends reach
    the reservation after their inserts; with the early read, most are refused before."""
    if early_read:
        monkeypatch.setattr(quotas, "EARLY_READ_FROM", 0)
    schools = make.department("Schools", quota=10)
    user = make.user(department=schools)
    threads, sends_each = 6, 3
    start_together = Barrier(threads)

    def send(thread: int) -> tuple[int, int]:
        accepted = refused = 0
        with app.app_context():
            start_together.wait(10)
            for n in range(sends_each):
                try:
                    accept_send(db.session, user.id, [f"6{thread:03d}{n:04d}"], "Hi")
                    accepted += 1
                except QuotaExceeded:
                    refused += 1
            db.session.remove()
        return accepted, refused

    with ThreadPoolExecutor(threads) as pool:
        results = [
            done.result(timeout=120) for done in [pool.submit(send, t) for t in range(threads)]
        ]
    assert sum(a for a, _ in results) == 10
    assert sum(r for _, r in results) == threads * sends_each - 10
    assert usage(app, schools) == (10, 10, 10)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)) == 10


def test_a_rejected_send_gives_its_segments_back(app, make):
    unit = make.department("Clinics", quota=100, threshold=2)
    maker = make.user(department=unit)
    checker = make.user(department=unit, role="approver")
    with app.app_context():
        sent = accept_send(db.session, maker.id, ["91234567", "92345678", "93456789"], "Hi")
        assert sent.status == "awaiting_approval" and usage(app, unit)[0] == 3
        reject(db.session, sent.id, checker.id, "wrong list")
    assert usage(app, unit)[0] == 0

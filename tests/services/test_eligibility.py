"""Which numbers of a send get an SMS: registers first, then the number's class; skipped
numbers are stored with their reason and counted, and a send with nobody left is refused."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from smspanel.models import DncImportStatus, Message, Recipient, db, utcnow
from smspanel.services.content import InvalidContent
from smspanel.services.eligibility import (
    NoDeliverableRecipients,
    SendPolicy,
    check_numbers,
    describe,
    describe_unknown,
    register_query,
)
from smspanel.services.personalisation import check_rows
from smspanel.services.sending import accept_personalised_send, accept_send
from tests.queries import recorded_statements
from tests.registers import dnc_register, opt_out

MOBILE, MOBILE_2, MOBILE_3 = "91234567", "61234567", "51234567"
FIXED, PAGER, PERSONAL, UNKNOWN = "28331234", "77778888", "81001234", "40001234"
STATEMENT = "Reply STOP to unsubscribe."
POLICY = SendPolicy(unsubscribe_text=STATEMENT)


def stored(message_id):
    rows = db.session.execute(
        select(Recipient.phone, Recipient.status, Recipient.skip_reason)
        .where(Recipient.message_id == message_id)
        .order_by(Recipient.id)
    ).all()
    return {phone: (status, reason) for phone, status, reason in rows}


def assert_counts_add_up(message):
    assert message.recipient_count == (
        message.sent_count
        + message.failed_count
        + message.pending_count
        + message.skipped_count
        + message.cancelled_count
    )


def test_fixed_lines_pagers_and_other_non_mobiles_are_skipped_with_their_class(app, make):
    user = make.user()
    with app.app_context():
        sent = accept_send(db.session, user.id, [MOBILE, FIXED, PAGER, PERSONAL], "Hi")
        assert stored(sent.id) == {
            MOBILE: ("pending", None),
            FIXED: ("skipped", "fixed_line"),
            PAGER: ("skipped", "pager"),
            PERSONAL: ("skipped", "not_mobile"),
        }
        message = db.session.get(Message, sent.id)
        assert (message.recipient_count, message.skipped_count, message.pending_count) == (4, 3, 1)
        assert_counts_add_up(message)
        assert sent.eligibility.by_reason == {"fixed_line": 1, "pager": 1, "not_mobile": 1}
        assert [(s.phone, s.reason) for s in sent.eligibility.skipped] == [
            (FIXED, "fixed_line"),
            (PAGER, "pager"),
            (PERSONAL, "not_mobile"),
        ]


def test_numbers_the_plan_does_not_know_are_sent_with_a_warning(app, make):
    user = make.user()
    with app.app_context():
        sent = accept_send(db.session, user.id, [MOBILE, UNKNOWN, "12345678"], "Hi")
        assert stored(sent.id)[UNKNOWN] == ("pending", None)
        assert sent.eligibility.unknown == (UNKNOWN, "12345678")
        assert sent.skipped_count == 0
        assert describe_unknown(sent.eligibility) == (
            "2 numbers are not in Hong Kong's numbering plan data; they are sent anyway."
        )


def test_with_skipping_off_every_number_is_sent(app, make):
    user = make.user()
    with app.app_context():
        sent = accept_send(
            db.session, user.id, [FIXED, PAGER], "Hi", policy=SendPolicy(skip_non_mobile=False)
        )
        assert set(stored(sent.id).values()) == {("pending", None)}


def test_opted_out_numbers_are_skipped_on_every_send(app, make):
    user = make.user()
    opt_out(app, MOBILE_2)
    with app.app_context():
        plain = accept_send(db.session, user.id, [MOBILE, MOBILE_2], "Hi")
        commercial = accept_send(
            db.session, user.id, [MOBILE, MOBILE_2], "Sale", commercial=True, policy=POLICY
        )
        for sent in (plain, commercial):
            assert stored(sent.id)[MOBILE_2] == ("skipped", "opted_out")
            assert db.session.get(Message, sent.id).skipped_count == 1


def test_only_commercial_sends_skip_the_do_not_call_register(app, make):
    user = make.user()
    dnc_register(app, [MOBILE_2, MOBILE_3])
    with app.app_context():
        notice = accept_send(db.session, user.id, [MOBILE, MOBILE_2], "Your appointment")
        sale = accept_send(
            db.session, user.id, [MOBILE, MOBILE_2], "Sale", commercial=True, policy=POLICY
        )
        assert stored(notice.id)[MOBILE_2] == ("pending", None)
        assert stored(sale.id)[MOBILE_2] == ("skipped", "dnc_register")
        assert db.session.get(Message, sale.id).commercial is True
        assert db.session.get(Message, notice.id).commercial is False


def test_only_the_active_copy_of_the_register_counts(app, make):
    user = make.user()
    dnc_register(app, [MOBILE_2])
    dnc_register(app, [MOBILE_3])  # replaces the first
    dnc_register(app, [MOBILE], status=DncImportStatus.LOADING)  # not finished yet
    with app.app_context():
        sale = accept_send(
            db.session,
            user.id,
            [MOBILE, MOBILE_2, MOBILE_3],
            "Sale",
            commercial=True,
            policy=POLICY,
        )
        assert stored(sale.id) == {
            MOBILE: ("pending", None),
            MOBILE_2: ("pending", None),
            MOBILE_3: ("skipped", "dnc_register"),
        }


def test_the_first_reason_wins_opted_out_then_register_then_class(app, make):
    user = make.user()
    opt_out(app, FIXED, MOBILE_2)
    dnc_register(app, [FIXED, MOBILE_2, PAGER])
    with app.app_context():
        sale = accept_send(
            db.session,
            user.id,
            [MOBILE, FIXED, MOBILE_2, PAGER, PERSONAL],
            "Sale",
            commercial=True,
            policy=POLICY,
        )
        assert stored(sale.id) == {
            MOBILE: ("pending", None),
            FIXED: ("skipped", "opted_out"),  # opted out and a fixed line on the register
            MOBILE_2: ("skipped", "opted_out"),  # opted out and on the register
            PAGER: ("skipped", "dnc_register"),  # on the register and a pager
            PERSONAL: ("skipped", "not_mobile"),
        }
        assert sale.eligibility.by_reason == {"opted_out": 2, "dnc_register": 1, "not_mobile": 1}
        assert db.session.get(Message, sale.id).skipped_count == 4
        assert describe(sale.eligibility, done=True) == (
            "4 of 5 numbers were skipped: 2 opted out, 1 on the do-not-call register, "
            "1 not a mobile number."
        )


@pytest.mark.parametrize("registered", [False, True])
def test_a_send_with_nobody_left_is_refused_and_stores_nothing(app, make, registered):
    user = make.user()
    if registered:
        opt_out(app, MOBILE)
    with app.app_context():
        with pytest.raises(NoDeliverableRecipients) as refused:
            accept_send(db.session, user.id, [MOBILE, FIXED] if registered else [FIXED], "Hi")
        assert refused.value.eligibility.deliverable_count == 0
        assert "no recipient is left to send to" in str(refused.value)
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0
        assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0


def test_the_registers_are_checked_in_the_database_not_number_by_number(app, make):
    """However many numbers and entries: one statement per register, numbers joined there."""
    user = make.user()
    phones = [f"9{n:07d}" for n in range(1000, 3000)]
    opt_out(app, *phones[:300])
    dnc_register(app, phones[200:900] + [f"6{n:07d}" for n in range(5000)])
    with recorded_statements(app) as statements, app.app_context():
        sale = accept_send(db.session, user.id, phones, "Sale", commercial=True, policy=POLICY)
    touching = [s for s in statements if "opt_outs" in s or "dnc_numbers" in s]
    assert len(touching) == 2
    assert sale.eligibility.by_reason == {"opted_out": 300, "dnc_register": 600}
    assert len(sale.eligibility.skipped) == 100  # the answer names the first hundred


def test_a_number_opted_out_after_a_scheduled_send_was_accepted_is_never_sent(app, make):
    user = make.user()
    with app.app_context():
        sent = accept_send(
            db.session, user.id, [MOBILE, MOBILE_2], "Hi", utcnow() + timedelta(minutes=5)
        )
        db.session.execute(
            Recipient.__table__.update()
            .where(Recipient.message_id == sent.id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )  # its time has come
        db.session.commit()
    opt_out(app, MOBILE_2)
    make.deliver()
    with app.app_context():
        assert stored(sent.id) == {MOBILE: ("sent", None), MOBILE_2: ("skipped", "opted_out")}
        message = db.session.get(Message, sent.id)
        assert (message.status, message.sent_count, message.skipped_count) == ("sent", 1, 1)
        assert_counts_add_up(message)


def test_a_commercial_number_put_on_the_register_before_its_claim_is_never_sent(app, make):
    user = make.user()
    with app.app_context():
        sale = accept_send(db.session, user.id, [MOBILE], "Sale", commercial=True, policy=POLICY)
        notice = accept_send(db.session, user.id, [MOBILE], "Your appointment")
    dnc_register(app, [MOBILE])
    make.deliver()
    with app.app_context():
        assert stored(sale.id) == {MOBILE: ("skipped", "dnc_register")}
        assert stored(notice.id) == {MOBILE: ("sent", None)}
        message = db.session.get(Message, sale.id)
        assert message.pending_count == 0 and message.completed_at is not None
        assert_counts_add_up(message)


def test_a_commercial_send_carries_the_unsubscribe_statement_once_and_pays_for_it(app, make):
    user = make.user()
    content = "Sale " + "x" * 140  # 145 characters: one SMS alone
    with app.app_context():
        sale = accept_send(db.session, user.id, [MOBILE], content, commercial=True, policy=POLICY)
        message = db.session.get(Message, sale.id)
        assert message.content == f"{content}\n{STATEMENT}"
        assert sale.segments == message.segments == 2
        again = accept_send(
            db.session, user.id, [MOBILE], message.content, commercial=True, policy=POLICY
        )
        assert db.session.get(Message, again.id).content == message.content  # not twice
        plain = accept_send(db.session, user.id, [MOBILE], content, policy=POLICY)
        assert db.session.get(Message, plain.id).content == content


def test_a_commercial_send_too_long_with_the_statement_is_refused_saying_so(app, make):
    user = make.user()
    with app.app_context():
        with pytest.raises(InvalidContent, match="with the unsubscribe statement"):
            accept_send(db.session, user.id, [MOBILE], "x" * 990, commercial=True, policy=POLICY)
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_each_row_of_a_commercial_personalised_send_carries_the_statement(app, make):
    user = make.user()
    template = "Dear ((name)), 20% off this week."
    check = check_rows(template, [(1, MOBILE, {"name": "Ann"}), (2, FIXED, {"name": "Bo"})])
    with app.app_context():
        sent = accept_personalised_send(
            db.session, user.id, None, template, check.rows, commercial=True, policy=POLICY
        )
        texts = db.session.scalars(
            select(Recipient.content).where(Recipient.message_id == sent.id).order_by(Recipient.id)
        ).all()
        assert texts == [
            f"Dear Ann, 20% off this week.\n{STATEMENT}",
            f"Dear Bo, 20% off this week.\n{STATEMENT}",
        ]
        assert stored(sent.id)[FIXED] == ("skipped", "fixed_line")
        assert sent.segments == 1  # the total over the rows that are sent


def test_the_preview_says_what_a_send_would_skip(app, make):
    opt_out(app, MOBILE_2)
    dnc_register(app, [MOBILE_3])
    phones = [MOBILE, MOBILE_2, MOBILE_3, FIXED, FIXED[:-1] + "5", UNKNOWN]
    with app.app_context():
        notice = check_numbers(db.session, phones, False, SendPolicy())
        sale = check_numbers(db.session, phones, True, SendPolicy())
    assert notice.by_reason == {"opted_out": 1, "fixed_line": 2}
    assert sale.by_reason == {"opted_out": 1, "dnc_register": 1, "fixed_line": 2}
    assert (sale.deliverable_count, sale.unknown_count) == (2, 1)
    assert describe(sale) == (
        "4 of 6 numbers will be skipped: 1 opted out, 1 on the do-not-call register, 2 fixed lines."
    )


def test_a_scheduled_send_whose_every_number_opted_out_meanwhile_ends_without_a_send(app, make):
    user = make.user()
    with app.app_context():
        sent = accept_send(
            db.session, user.id, [MOBILE, MOBILE_2], "Hi", utcnow() + timedelta(minutes=5)
        )
        db.session.execute(
            Recipient.__table__.update()
            .where(Recipient.message_id == sent.id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    opt_out(app, MOBILE, MOBILE_2)
    make.deliver()
    with app.app_context():
        message = db.session.get(Message, sent.id)
        assert (message.sent_count, message.skipped_count, message.pending_count) == (0, 2, 0)
        assert message.status not in ("pending", "scheduled") and message.completed_at
        assert_counts_add_up(message)


@pytest.mark.parametrize("register", ["opt_outs", "dnc_numbers"])
def test_sqlite_looks_the_numbers_up_in_a_register_not_the_register_through_the_numbers(
    app, register
):
    """Whatever the statistics say: a connection opened before an import (whose ANALYZE
    runs in the loader's process) sees none, and scanned a 2,000,000-number copy once per
    number of the send."""
    with app.app_context():
        dialect = db.engine.dialect.name
        if dialect != "sqlite":
            pytest.skip("the join order is SQLite's planner's; the servers' are set by hand")
        import_id = None if register == "opt_outs" else 1
        sql = register_query(dialect, register, import_id)
        plan = [
            row[3]
            for row in db.session.execute(
                text(f"EXPLAIN QUERY PLAN {sql}"),
                {"phones": json.dumps(["91234567"]), "import_id": import_id},
            )
        ]
    assert plan[0].startswith("SCAN j")
    assert plan[1].startswith("SEARCH r") and "phone=?" in plan[1]

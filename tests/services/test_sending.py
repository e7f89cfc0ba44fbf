"""Accepting a send is all or nothing, and never waits on the gateway."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from sqlalchemy import func, select

from smspanel.models import Message, MessageTally, Recipient, Template, db
from smspanel.services.content import InvalidContent
from smspanel.services.personalisation import PersonalisedRow
from smspanel.services.phone import InvalidRecipients
from smspanel.services.sending import accept_personalised_send, accept_send
from tests.registers import opt_out


def counts():
    return (
        db.session.scalar(select(func.count()).select_from(Message)),
        db.session.scalar(select(func.count()).select_from(Recipient)),
    )


def tally(user_id):
    return db.session.scalar(
        select(MessageTally.message_count).where(MessageTally.user_id == user_id)
    )


def test_a_send_stores_the_message_and_each_distinct_number(app, make):
    user = make.user()
    with app.app_context():
        message = accept_send(db.session, user.id, ["1234 5678", "12345678", "+85287654321"], "Hi")
        assert (message.status, message.recipient_count, message.segments) == ("pending", 2, 1)
        phones = db.session.scalars(select(Recipient.phone).order_by(Recipient.id)).all()
        assert phones == ["12345678", "87654321"]


@pytest.mark.parametrize(
    ("recipients", "content", "error"),
    [
        (["12345678", "1234-5678"], "Hi", InvalidRecipients),
        (["12345678"], "   ", InvalidContent),
        (["12345678"], "x" * 1001, InvalidContent),
    ],
)
def test_a_refused_send_leaves_nothing_behind(app, make, recipients, content, error):
    user = make.user()
    with app.app_context():
        with pytest.raises(error):
            accept_send(db.session, user.id, recipients, content)
        assert counts() == (0, 0)
        assert tally(user.id) == 0


def test_ten_thousand_recipients_are_one_insert(app, make):
    user = make.user()
    numbers = [f"{n:08d}" for n in range(20_000_000, 20_010_000)]
    with app.app_context():
        message = accept_send(db.session, user.id, numbers, "Bulk")
        assert message.recipient_count == 10_000
        assert counts() == (1, 10_000)


def test_a_send_counts_one_message_for_its_sender_however_many_numbers(app, make):
    alice, bob = make.user(), make.user()
    with app.app_context():
        accept_send(db.session, alice.id, ["12345678", "87654321"], "Hi")
        accept_send(db.session, alice.id, ["12345678"], "Hi again")
        accept_send(db.session, None, ["12345678"], "From no account")
        assert (tally(alice.id), tally(bob.id)) == (2, 0)


def test_concurrent_sends_by_one_user_never_deadlock_and_all_count(app, make):
    """Each send inserts a message (on MySQL/MariaDB: a shared lock on the users row through
    the foreign key) and then bumps the tally in its own table, so two at once only queue."""
    user = make.user()
    threads, sends_each = 2, 50
    start_together = Barrier(threads)

    def send_many(thread: int) -> None:
        with app.app_context():
            start_together.wait(10)
            for n in range(sends_each):
                accept_send(db.session, user.id, [f"6{thread}{n:06d}"], f"t{thread} n{n}")
            db.session.remove()

    with ThreadPoolExecutor(threads) as pool:
        for done in [pool.submit(send_many, thread) for thread in range(threads)]:
            done.result(timeout=120)  # re-raises a deadlock or lock-wait error from a thread
    with app.app_context():
        owned = db.session.scalar(
            select(func.count()).select_from(Message).where(Message.user_id == user.id)
        )
        assert tally(user.id) == owned == threads * sends_each


# Texts each database's bulk path must store exactly: quotes and backslashes (SQL literals on
# MariaDB), tabs, newlines and backslashes (COPY's text format on PostgreSQL), Chinese and
# characters outside the BMP (utf8mb4).
AWKWARD_TEXTS = [
    'O\'Brien said "hi"',
    "C:\\path\\n not a newline",
    "tab\there\nand a new line\r\n",
    "颱風信號八號 𨋢 😀",
    "\\N is not null",
    "100% sure, %s and %(name)s and %%",
    "'); DROP TABLE recipients; --",
]


def test_a_large_personalised_send_stores_every_row_exactly(app, make):
    user = make.user()
    phones = [f"{n:08d}" for n in range(61_000_000, 61_000_600)]  # mobiles, past the bulk path
    texts = [f"{AWKWARD_TEXTS[n % len(AWKWARD_TEXTS)]} #{n}" for n in range(len(phones))]
    opt_out(app, *phones[::50])
    with app.app_context():
        template = Template(name="Notice", content="((text))")
        db.session.add(template)
        db.session.commit()
        rows = [
            PersonalisedRow(n, p, t, 1)
            for n, (p, t) in enumerate(zip(phones, texts, strict=True), 1)
        ]
        sent = accept_personalised_send(db.session, user.id, template.id, "((text))", rows)
        stored = db.session.execute(
            select(
                Recipient.phone,
                Recipient.content,
                Recipient.status,
                Recipient.skip_reason,
                Recipient.attempts,
                Recipient.next_attempt_at,
            ).where(Recipient.message_id == sent.id)
        ).all()
    assert sorted((phone, text) for phone, text, *_ in stored) == sorted(
        zip(phones, texts, strict=True)
    )
    opted = set(phones[::50])
    assert {
        phone: (status, reason) for phone, _, status, reason, *_ in stored if phone in opted
    } == dict.fromkeys(opted, ("skipped", "opted_out"))
    assert {status for phone, _, status, *_ in stored if phone not in opted} == {"pending"}
    assert {(attempts, due.tzinfo is not None) for *_, attempts, due in stored} == {(0, True)}

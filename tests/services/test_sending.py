"""Accepting a send is all or nothing, and never waits on the gateway."""

import pytest
from sqlalchemy import func, select

from smspanel.models import Message, Recipient, db
from smspanel.services.content import InvalidContent
from smspanel.services.phone import InvalidRecipients
from smspanel.services.sending import accept_send


def counts():
    return (
        db.session.scalar(select(func.count()).select_from(Message)),
        db.session.scalar(select(func.count()).select_from(Recipient)),
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


def test_ten_thousand_recipients_are_one_insert(app, make):
    user = make.user()
    numbers = [f"{n:08d}" for n in range(20_000_000, 20_010_000)]
    with app.app_context():
        message = accept_send(db.session, user.id, numbers, "Bulk")
        assert message.recipient_count == 10_000
        assert counts() == (1, 10_000)

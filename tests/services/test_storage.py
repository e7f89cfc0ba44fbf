"""What goes into the database comes back the same on SQLite, MariaDB and PostgreSQL."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from smspanel.models import Message, Recipient, db
from smspanel.services.sending import accept_send


@pytest.mark.parametrize(
    "content",
    [
        "通知：明日上午九時至下午五時暫停供水。",
        "Emoji 😀👍🏽 and 𠀀 (outside the BMP)",
        "é ñ ü € £ ¥",
    ],
)
def test_unicode_content_round_trips_byte_exact(app, make, content):
    user = make.user()
    with app.app_context():
        message_id = accept_send(db.session, user.id, ["12345678"], content).id
        db.session.expunge_all()
        stored = db.session.scalar(select(Message.content).where(Message.id == message_id))
        assert stored.encode("utf-8") == content.encode("utf-8")


def test_times_are_stored_as_utc_and_read_back_aware_to_the_microsecond(app, make):
    user = make.user()
    hong_kong_evening = datetime(
        2026, 11, 25, 23, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8))
    )
    with app.app_context():
        message = db.session.get(Message, accept_send(db.session, user.id, ["12345678"], "t").id)
        message.created_at = hong_kong_evening
        db.session.commit()
        db.session.expunge_all()
        stored = db.session.scalar(select(Message.created_at))
        assert stored.tzinfo is UTC
        assert stored == hong_kong_evening  # the same instant
        assert stored.hour == 15 and stored.microsecond == 123456


def test_the_claim_order_respects_microseconds(app, make):
    user = make.user()
    with app.app_context():
        accept_send(db.session, user.id, ["11112222", "33334444"], "t")
        first, second = db.session.scalars(select(Recipient).order_by(Recipient.id)).all()
        base = datetime(2026, 1, 1, tzinfo=UTC)
        first.next_attempt_at = base + timedelta(microseconds=2)
        second.next_attempt_at = base + timedelta(microseconds=1)
        db.session.commit()
        ordered = db.session.scalars(
            select(Recipient.phone).order_by(Recipient.next_attempt_at)
        ).all()
        assert ordered == ["33334444", "11112222"]

"""GET /api/sms's listing: a user's messages with the exact total from their tally."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from smspanel.models import Message, MessageTally, User, db
from smspanel.services.api_listing import list_api_messages


def test_the_api_total_is_how_many_messages_each_user_owns(app, make):
    alice, bob, carol = make.user("alice"), make.user("bob"), make.user("carol")
    for n in range(3):
        make.message(alice, [f"6000{n:04d}", "12345678"], f"Notice {n}")
    make.message(bob, ["55556666"])
    make.message(bob, ["55556666"])
    with app.app_context():
        totals = {
            user.username: list_api_messages(db.session, user.id, 1, 20)[1]
            for user in (alice, bob, carol)
        }
        owned = dict(
            db.session.execute(
                select(User.username, func.count(Message.id))
                .outerjoin(Message, Message.user_id == User.id)
                .group_by(User.username)
            ).all()
        )
    assert totals == {"alice": 3, "bob": 2, "carol": 0} == owned


def test_the_api_total_is_counted_for_a_user_without_a_tally(app, make):
    """A user whose tally row is missing (no path adds one so, but a restored database might)
    still gets an exact total, counted from the messages."""
    alice = make.user("alice")
    make.message(alice)
    make.message(alice)
    with app.app_context():
        db.session.execute(delete(MessageTally).where(MessageTally.user_id == alice.id))
        db.session.commit()
        assert list_api_messages(db.session, alice.id, 1, 20)[1] == 2


def test_a_page_lists_only_the_users_own_messages_newest_first(app, make):
    alice, bob = make.user("alice"), make.user("bob")
    own = [make.message(alice, content=f"a{n}") for n in range(3)]
    make.message(bob, content="not alice's")
    with app.app_context():
        first, total = list_api_messages(db.session, alice.id, 1, 2)
        second, _ = list_api_messages(db.session, alice.id, 2, 2)
    assert [m.id for m in first + second] == own[::-1] and total == 3

"""A message's page: its sender's name and its recipients, a page and a status at a time."""

from __future__ import annotations

from smspanel.models import User, db
from smspanel.services.accounts import delete_user
from smspanel.services.message_detail import list_recipients, sender_name
from smspanel.services.ownership import EVERYONE, find_message


def test_recipients_page_in_the_order_sent_and_filter_by_status(app, make):
    alice = make.user("alice")
    message_id = make.message(alice, ["11112222", "33334444", "55556666"])
    make.deliver(failing=frozenset({"33334444"}))
    with app.app_context():
        first = list_recipients(db.session, message_id, 1, per_page=2)
        failed = list_recipients(db.session, message_id, 1, "failed")
        unknown = list_recipients(db.session, message_id, 1, "lost")
        assert [r.phone for (r,) in first.items] == ["11112222", "33334444"]
        assert [r.phone for (r,) in failed.items] == ["33334444"]
    assert (first.pages, failed.total) == (2, 1)
    assert unknown.total == 3  # an unknown status filters nothing


def test_a_deleted_senders_message_has_no_sender_name(app, make):
    admin, alice = make.user("admin", is_admin=True), make.user("alice")
    message_id = make.message(alice)
    with app.app_context():
        message = find_message(db.session, message_id, EVERYONE)
        assert sender_name(db.session, message) == "alice"
        delete_user(db.session, db.session.get(User, admin.id), db.session.get(User, alice.id))
        db.session.expire_all()
        assert sender_name(db.session, find_message(db.session, message_id, EVERYONE)) is None

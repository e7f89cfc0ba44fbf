"""Accounts: who may log in, and administering users."""

import pytest
from sqlalchemy import func, select

from smspanel.models import Message, MessageTally, User, db
from smspanel.services.accounts import (
    ADMIN_USERNAME,
    UserError,
    authenticate,
    create_user,
    delete_user,
    ensure_admin,
)
from smspanel.services.history import list_api_messages
from smspanel.services.sending import accept_send
from tests.conftest import PASSWORD


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("ab", "long enough pw", "username"),
        ("has space", "long enough pw", "username"),
        ("bob", "short", "at least 12"),
        ("bob", "elevenchars", "at least 12"),
        ("bobby1234567", "BOBBY1234567", "username"),
        ("bob", "Password1234", "too common"),
        ("bob", "correcthorsebatterystaple", "too common"),
    ],
)
def test_bad_accounts_are_refused_with_a_reason(app, username, password, message):
    with app.app_context(), pytest.raises(UserError, match=message):
        create_user(db.session, username, password)


def test_usernames_are_unique_regardless_of_case(app, make):
    make.user("Carol")
    with app.app_context(), pytest.raises(UserError, match="taken"):
        create_user(db.session, "carol", PASSWORD)


def test_login_needs_the_right_password_and_an_active_account(app, make):
    make.user("dave")
    make.user("erin", active=False)
    with app.app_context():
        assert authenticate(db.session, "dave", PASSWORD).username == "dave"
        assert authenticate(db.session, "dave", "wrong password") is None
        assert authenticate(db.session, "erin", PASSWORD) is None
        assert authenticate(db.session, "nobody", PASSWORD) is None


def test_admin_is_created_once_and_never_changed(app):
    with app.app_context():
        generated = ensure_admin(db.session, None)
        assert generated and len(generated) >= 16
        assert ensure_admin(db.session, "another password") is None
        admin = db.session.scalar(select(User).where(User.username == ADMIN_USERNAME))
        assert admin.is_admin and admin.is_active
        assert authenticate(db.session, ADMIN_USERNAME, generated) is not None


def test_a_deleted_users_tally_goes_and_a_new_account_of_that_name_starts_at_zero(app, make):
    admin, alice = make.user("admin", is_admin=True), make.user("alice")
    for n in range(3):
        make.message(alice, content=f"n{n}")
    with app.app_context():
        assert (
            delete_user(db.session, db.session.get(User, admin.id), db.session.get(User, alice.id))
            == 3
        )
        assert db.session.get(MessageTally, alice.id) is None
        # SQLite may even hand the new account the old id: nothing of the old tally is left.
        again = create_user(db.session, "alice", PASSWORD).id
        assert list_api_messages(db.session, again, 1, 20) == ([], 0)
        accept_send(db.session, again, ["12345678"], "first of the new account")
        assert list_api_messages(db.session, again, 1, 20)[1] == 1
        unowned = select(func.count()).select_from(Message).where(Message.user_id.is_(None))
        assert db.session.scalar(unowned) == 3

"""Accounts and tokens: only hashes are stored; disabled users and revoked tokens get nowhere."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from smspanel.models import ApiToken, User, db, utcnow
from smspanel.services.users import (
    ADMIN_USERNAME,
    UserError,
    authenticate,
    authenticate_token,
    create_user,
    ensure_admin,
    issue_token,
    revoke_tokens,
)
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


def test_a_token_is_stored_only_as_a_hash_and_can_be_revoked(app, make):
    user = make.user()
    with app.app_context():
        token = issue_token(db.session, db.session.get(User, user.id))
        stored = db.session.scalar(select(ApiToken.token_hash))
        assert token not in stored and len(stored) == 64
        assert authenticate_token(db.session, token).id == user.id
        assert db.session.scalar(select(ApiToken.last_used_at)) is not None
        revoke_tokens(db.session, db.session.get(User, user.id))
        assert authenticate_token(db.session, token) is None


def test_tokens_of_disabled_users_and_expired_tokens_fail(app, make):
    user = make.user()
    with app.app_context():
        holder = db.session.get(User, user.id)
        expired = issue_token(db.session, holder, expires_at=utcnow() - timedelta(seconds=1))
        assert authenticate_token(db.session, expired) is None
        live = issue_token(db.session, holder)
        holder.is_active = False
        db.session.commit()
        assert authenticate_token(db.session, live) is None


def test_admin_is_created_once_and_never_changed(app):
    with app.app_context():
        generated = ensure_admin(db.session, None)
        assert generated and len(generated) >= 16
        assert ensure_admin(db.session, "another password") is None
        admin = db.session.scalar(select(User).where(User.username == ADMIN_USERNAME))
        assert admin.is_admin and admin.is_active
        assert authenticate(db.session, ADMIN_USERNAME, generated) is not None

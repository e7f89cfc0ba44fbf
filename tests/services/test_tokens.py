"""API tokens: only hashes are stored; revoked, expired and disabled users' tokens get nowhere."""

from datetime import timedelta

from sqlalchemy import select

from smspanel.models import ApiToken, User, db, utcnow
from smspanel.services.tokens import (
    LAST_USED_RESOLUTION,
    TOKEN_PREFIX,
    authenticate_token,
    issue_token,
    revoke_tokens,
)


def test_a_token_is_stored_only_as_a_hash_and_can_be_revoked(app, make):
    user = make.user()
    with app.app_context():
        token = issue_token(db.session, db.session.get(User, user.id))
        assert token.startswith(TOKEN_PREFIX)
        stored = db.session.scalar(select(ApiToken.token_hash))
        assert token not in stored and len(stored) == 64
        assert authenticate_token(db.session, token).id == user.id
        assert db.session.scalar(select(ApiToken.last_used_at)) is not None
        assert revoke_tokens(db.session, db.session.get(User, user.id)) == 1
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


def test_last_use_is_stored_coarsely_and_committed(app, make):
    token = make.token(make.user())
    with app.app_context():
        authenticate_token(db.session, token)
        first = db.session.scalar(select(ApiToken.last_used_at))
        authenticate_token(db.session, token)  # within the resolution: no new write
        db.session.rollback()  # only what was committed is left
        assert db.session.scalar(select(ApiToken.last_used_at)) == first
        stale = first - LAST_USED_RESOLUTION - timedelta(seconds=1)
        db.session.execute(db.update(ApiToken).values(last_used_at=stale))
        db.session.commit()
        authenticate_token(db.session, token)
        db.session.rollback()
        assert db.session.scalar(select(ApiToken.last_used_at)) > stale

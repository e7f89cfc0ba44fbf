"""Web logins kept on the server, so logging out, a password change or disabling ends them.

The cookie carries a random token; the database keeps only its SHA-256. A login is valid
while its row is not ended, not expired, and its user is active.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from smspanel.models import User, UserSession, utcnow
from smspanel.services.tokens import token_digest
from smspanel.services.transactions import transaction

SESSION_LIFETIME = timedelta(hours=12)


def start_session(session: Session, user: User, ip_address: str | None = None) -> str:
    """Record a new login for `user` and return its token (a fresh one at every login)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with transaction(session):
        session.add(
            UserSession(
                user_id=user.id,
                token_hash=token_digest(token),
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
                ip_address=(ip_address or "")[:45] or None,
            )
        )
    user.session_token = token
    return token


def resolve_session(session: Session, user_id: int, token: str) -> User | None:
    """The active user of a live login, or None."""
    if not token or len(token) > 100:
        return None
    digest = token_digest(token)
    row = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == digest)
    ).first()
    if row is None:
        return None
    login, user = row
    if not hmac.compare_digest(login.token_hash, digest) or login.user_id != user_id:
        return None
    if login.ended_at is not None or login.expires_at <= utcnow() or not user.is_active:
        return None
    user.session_token = token
    return user


def end_session(session: Session, token: str | None) -> None:
    """Log out the login holding `token` (nothing without one)."""
    if not token:
        return
    with transaction(session):
        session.execute(
            update(UserSession)
            .where(UserSession.token_hash == token_digest(token), UserSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )


def end_sessions(session: Session, user: User, keep_token: str | None = None) -> int:
    """End every open login of `user` except the one holding `keep_token`."""
    query = update(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None)
    )
    if keep_token:
        query = query.where(UserSession.token_hash != token_digest(keep_token))
    with transaction(session):
        result = session.execute(query.values(ended_at=utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

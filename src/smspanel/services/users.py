"""Accounts, passwords and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smspanel.models import ApiToken, MessageTally, User, utcnow
from smspanel.services import audit
from smspanel.services.passwords import (
    WeakPassword,
    check_password_policy,
    hash_password,
    verify_password,
)

ADMIN_USERNAME = "SMSadmin"
TOKEN_PREFIX = "smsp_"
_USERNAME = re.compile(r"[A-Za-z0-9_.@-]{3,64}")
LAST_USED_RESOLUTION = timedelta(minutes=1)


class UserError(ValueError):
    """A user-management request that cannot be carried out; the message says why."""


def _check_password(username: str, password: str) -> None:
    try:
        check_password_policy(username, password)
    except WeakPassword as exc:
        raise UserError(str(exc)) from None


def create_user(session: Session, username: str, password: str, *, is_admin: bool = False) -> User:
    username = username.strip()
    if not _USERNAME.fullmatch(username):
        raise UserError("username must be 3-64 characters: letters, digits, and . _ - @ only")
    _check_password(username, password)
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise UserError(f"username {username!r} is already taken")
    user = _add_user(session, username, password, is_admin, "admin" if is_admin else "user")
    if user is None:
        raise UserError(f"username {username!r} is already taken")
    return user


def _add_user(
    session: Session, username: str, password: str, is_admin: bool, detail: str
) -> User | None:
    """Insert an active account, its message tally and its audit record; None if the name
    was taken meanwhile.

    Every account is added here, so every user has a tally row for sends to increment.
    """
    user = User(
        username=username,
        password_hash=hash_password(password),
        is_admin=is_admin,
        is_active=True,
        created_at=utcnow(),
    )
    session.add(user)
    try:
        session.flush()
        session.add(MessageTally(user_id=user.id, message_count=0))
        audit.record(session, "user.create", describe(user), detail)
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return user


def describe(user: User) -> str:
    return f"user:{user.id} {user.username}"


def set_password(
    session: Session, user: User, password: str, keep_session_token: str | None = None
) -> None:
    """Change the password and end the user's other web logins (all but `keep_session_token`)."""
    from smspanel.services.sessions import end_sessions

    _check_password(user.username, password)
    user.password_hash = hash_password(password)
    audit.record(session, "user.password", describe(user))
    session.commit()
    end_sessions(session, user, keep_token=keep_session_token)


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (same answer for every failure)."""
    # A name with control characters cannot exist (and U+0000 cannot even be queried).
    user = find_user(session, username) if username.isprintable() else None
    matches = verify_password(None if user is None else user.password_hash, password)
    if user is None or not matches or not user.is_active:
        reason = "unknown user" if user is None else "disabled" if not user.is_active else ""
        audit.record(session, "login.failure", f"username {username}", reason or "bad password")
        session.commit()
        return None
    user.last_login_at = utcnow()
    audit.identify(user)
    audit.record(session, "login.success", describe(user))
    session.commit()
    return user


def token_digest(token: str) -> str:
    """What is stored for a bearer or session token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, user: User, name: str = "", expires_at: datetime | None = None
) -> str:
    """Create a token and return it; only its hash is kept, so this is the one time it shows."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    audit.record(session, "token.issue", describe(user), name)
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=token_digest(token),
            name=name[:64],
            created_at=utcnow(),
            expires_at=expires_at,
        )
    )
    session.commit()
    return token


@dataclass(frozen=True)
class TokenHolder:
    """The user behind a bearer token, as the API needs it (no ORM identity to load)."""

    id: int
    username: str
    is_admin: bool


_tokens, _users = ApiToken.__table__, User.__table__
# Built once and in Core: this check runs before every API request.
_TOKEN_HOLDER = (
    select(
        _tokens.c.id,
        _tokens.c.token_hash,
        _tokens.c.revoked_at,
        _tokens.c.expires_at,
        _tokens.c.last_used_at,
        _users.c.id,
        _users.c.username,
        _users.c.is_admin,
        _users.c.is_active,
    )
    .join(_users, _users.c.id == _tokens.c.user_id)
    .where(_tokens.c.token_hash == bindparam("digest"))
)


def authenticate_token(session: Session, token: str) -> TokenHolder | None:
    """The active user holding this live token, or None."""
    if not token or len(token) > 200:
        return None
    digest = token_digest(token)
    row = session.execute(_TOKEN_HOLDER, {"digest": digest}).first()
    if row is None:
        return None
    token_id, token_hash, revoked_at, expires_at, last_used_at, user_id, name, admin, active = row
    now = utcnow()
    if not hmac.compare_digest(token_hash, digest):
        return None
    if revoked_at is not None or not active:
        return None
    if expires_at is not None and expires_at <= now:
        return None
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
        # Coarse on purpose: one write a minute per token, not one per request.
        session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
        session.commit()
    return TokenHolder(user_id, name, admin)


def revoke_tokens(session: Session, user: User) -> int:
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    audit.record(session, "token.revoke", describe(user), f"{result.rowcount} token(s)")  # type: ignore[attr-defined]
    session.commit()
    return result.rowcount  # type: ignore[attr-defined]


def ensure_admin(session: Session, password: str | None) -> str | None:
    """Create SMSadmin on first run; return the password only if it was generated here."""
    if session.scalar(select(User.id).where(User.username == ADMIN_USERNAME)) is not None:
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    with audit.acting_as(audit.Actor(username="system", channel="startup")):
        admin = _add_user(session, ADMIN_USERNAME, password, True, "first-run admin")
    return generated if admin is not None else None  # None: another process made it first

"""API bearer tokens: issued once, stored only as a hash, checked before every API request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from smspanel.models import ApiToken, Role, User, utcnow
from smspanel.services import audit
from smspanel.services.transactions import transaction
from smspanel.services.wording import _

TOKEN_PREFIX = "smsp_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
# An admin may give a regenerated token a lifetime, in whole days (empty: none).
MAX_EXPIRY_DAYS = 3650


class TokenError(ValueError):
    """A token request that cannot be carried out; the message says why."""


def token_digest(token: str) -> str:
    """What is stored for a bearer or session token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, user: User, name: str = "", expires_at: datetime | None = None
) -> str:
    """Create a token and return it; only its hash is kept, so this is the one time it shows."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction(session):
        audit.record(session, "token.issue", audit.describe(user), name)
        session.add(
            ApiToken(
                user_id=user.id,
                token_hash=token_digest(token),
                name=name[:64],
                created_at=utcnow(),
                expires_at=expires_at,
            )
        )
    return token


@dataclass(frozen=True)
class TokenHolder:
    """The user behind a bearer token, as the API needs it (no ORM identity to load)."""

    id: int
    username: str
    is_admin: bool
    role: str = Role.SENDER
    department_id: int | None = None
    token_id: int | None = None  # which token it was: logout revokes it, the listing marks it


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
        _users.c.role,
        _users.c.department_id,
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
    (
        token_id,
        token_hash,
        revoked_at,
        expires_at,
        last_used_at,
        user_id,
        name,
        admin,
        active,
        role,
        department_id,
    ) = row
    now = utcnow()
    if not hmac.compare_digest(token_hash, digest):
        return None
    if revoked_at is not None or not active:
        return None
    if expires_at is not None and expires_at <= now:
        return None
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
        # Coarse on purpose: one write a minute per token, not one per request.
        with transaction(session):
            session.execute(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
            )
    return TokenHolder(user_id, name, admin, role, department_id, token_id)


def revoke_tokens(session: Session, user: User, reason: str = "") -> int:
    """Revoke every live token of `user`; return how many there were. `reason` goes into
    the audit record (a password change says so)."""
    with transaction(session):
        now = utcnow()
        result = session.execute(
            update(ApiToken)
            .where(
                ApiToken.user_id == user.id,
                ApiToken.revoked_at.is_(None),
                or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
            )
            .values(revoked_at=now)
        )
        revoked = int(result.rowcount or 0)  # type: ignore[attr-defined]
        detail = f"{revoked} token(s)" + (f", {reason}" if reason else "")
        audit.record(session, "token.revoke", audit.describe(user), detail)
    return revoked


def revoke_own_token(session: Session, holder: TokenHolder) -> bool:
    """An API logout: the token the caller used stops working; False if it already had."""
    with transaction(session):
        result = session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == holder.token_id,
                ApiToken.user_id == holder.id,
                ApiToken.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
        revoked = bool(result.rowcount)  # type: ignore[attr-defined]
        if revoked:
            audit.record(session, "token.revoke", audit.describe(holder), "logout")
    return revoked


def live_tokens(session: Session, user_id: int) -> list[ApiToken]:
    """The user's tokens that still work (neither revoked nor expired), newest first."""
    now = utcnow()
    query = (
        select(ApiToken)
        .where(
            ApiToken.user_id == user_id,
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        )
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list(session.scalars(query))


def expiry_in_days(raw: str | None, now: datetime | None = None) -> datetime | None:
    """When a token given `raw` days expires: empty means never; else a whole number of
    days from 1 to MAX_EXPIRY_DAYS, or TokenError naming the problem."""
    text = (raw or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_EXPIRY_DAYS:
        raise TokenError(
            _(
                "expires in (days) must be a whole number from 1 to %(maximum)s, or empty",
                maximum=MAX_EXPIRY_DAYS,
            )
        )
    return (now or utcnow()) + timedelta(days=int(text))

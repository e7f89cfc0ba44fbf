"""Token login and the bearer-token check every other API route uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import current_app, g, request

from smspanel.api.blueprint import bp
from smspanel.api.operations import operation
from smspanel.api.schemas import (
    LoginData,
    LoginRequest,
    LogoutData,
    TokenList,
    TokenOut,
    UserOut,
    parse_body,
    respond,
)
from smspanel.authz import TOKEN, TOKEN_SEND, access_rule, public
from smspanel.errors import ApiError
from smspanel.hktime import to_hkt
from smspanel.models import db
from smspanel.services import audit
from smspanel.services.accounts import log_in_for_token
from smspanel.services.departments import NotAllowedToSend, may_send
from smspanel.services.tokens import (
    TokenHolder,
    authenticate_token,
    live_tokens,
    revoke_own_token,
)
from smspanel.throttling import limit_logins


def token_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Admit only requests carrying a live token of an active user (`g.api_user`)."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "UNAUTHORIZED", "send 'Authorization: Bearer <token>'")
        user = authenticate_token(db.session, token.strip())
        if user is None:
            raise ApiError(
                401,
                "INVALID_TOKEN",
                "token is invalid, revoked or expired, or its user is disabled",
            )
        g.api_user = user
        audit.identify(user)
        return view(*args, **kwargs)

    return access_rule(TOKEN)(guarded)


def sender_token_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """A live token of a user allowed to send (not a viewer); a viewer gets 403 `FORBIDDEN`
    before the body is read."""

    @wraps(view)
    def allowed(*args: Any, **kwargs: Any) -> Any:
        if not may_send(current_api_user().role):
            raise NotAllowedToSend()
        return view(*args, **kwargs)

    return access_rule(TOKEN_SEND)(token_required(allowed))


def current_api_user() -> TokenHolder:
    return g.api_user  # type: ignore[no-any-return]


@bp.post("/auth/login")
@public
@limit_logins
@operation(
    "Exchange username and password for a bearer token",
    body=LoginRequest,
    responds=(200, LoginData, "Logged in"),
    errors=(400, 401, 413, 429, 503),
)
def login():
    """Exchange a username and password for a new bearer token."""
    body = parse_body(LoginRequest)
    lifetime = timedelta(hours=current_app.config["API_LOGIN_TOKEN_HOURS"])
    logged_in = log_in_for_token(db.session, body.username, body.password, lifetime)
    if logged_in is None:
        raise ApiError(401, "INVALID_CREDENTIALS", "invalid username or password")
    user = logged_in.user
    data = LoginData(
        access_token=logged_in.token,
        expires_at=to_hkt(logged_in.expires_at),
        user=UserOut(id=user.id, username=user.username, is_admin=user.is_admin),
    )
    return respond(data, "logged in")


@bp.post("/auth/logout")
@token_required
@operation(
    "Revoke the token this call carries",
    responds=(200, LogoutData, "Logged out: the token no longer works"),
    errors=(401, 503),
)
def logout():
    """The bearer token of this request is revoked; later calls with it get 401
    `INVALID_TOKEN`. The caller's other tokens keep working."""
    revoke_own_token(db.session, current_api_user())
    return respond(LogoutData(revoked=True), "logged out")


@bp.get("/auth/tokens")
@token_required
@operation(
    "List the caller's live tokens",
    responds=(200, TokenList, "The tokens, never their secrets"),
    errors=(401, 503),
)
def tokens():
    """The caller's tokens that still work, newest first; `current` marks the one this
    call carried. A token's secret is shown only when it is made."""
    holder = current_api_user()
    listed = [
        TokenOut(
            id=token.id,
            name=token.name,
            created_at=to_hkt(token.created_at),
            last_used_at=to_hkt(token.last_used_at),
            expires_at=to_hkt(token.expires_at),
            current=token.id == holder.token_id,
        )
        for token in live_tokens(db.session, holder.id)
    ]
    return respond(TokenList(tokens=listed), f"{len(listed)} token(s)")

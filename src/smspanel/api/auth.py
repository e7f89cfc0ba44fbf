"""Token login and the bearer-token check every other API route uses."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from smspanel.api.blueprint import bp
from smspanel.api.operations import operation
from smspanel.api.schemas import LoginData, LoginRequest, UserOut, parse_body, respond
from smspanel.authz import TOKEN, TOKEN_SEND, access_rule, public
from smspanel.errors import ApiError
from smspanel.models import db
from smspanel.services import audit
from smspanel.services.accounts import log_in_for_token
from smspanel.services.departments import NotAllowedToSend, may_send
from smspanel.services.tokens import TokenHolder, authenticate_token
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
    logged_in = log_in_for_token(db.session, body.username, body.password)
    if logged_in is None:
        raise ApiError(401, "INVALID_CREDENTIALS", "invalid username or password")
    user, token = logged_in
    data = LoginData(
        access_token=token,
        user=UserOut(id=user.id, username=user.username, is_admin=user.is_admin),
    )
    return respond(data, "logged in")

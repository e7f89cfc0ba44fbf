"""Login throttling at the door: which account and address a request tries, and the 429.

The counting and the lockout rule are in services/login_throttle.py. The counts are in the
database unless RATELIMIT_STORAGE_URI names a store (e.g. redis://127.0.0.1:6379); either
way every process shares them, and the web form, the API and the code step share them too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, Response, after_this_request, current_app, request

from smspanel.config import ConfigError
from smspanel.errors import api_error, error_page, wants_json
from smspanel.models import db
from smspanel.services.login_throttle import Attempt, Limit, LoginThrottle, counts_for

FORM_BODIES = ("application/x-www-form-urlencoded", "multipart/form-data")
EXTENSION = "smspanel.login_throttle"


def client_address() -> str:
    return request.remote_addr or "unknown"


def login_account() -> str:
    """The account being tried, case-folded, read the way the form or the API reads it:
    a form body's field, else the body as JSON whatever its Content-Type (as the API does)."""
    name: object = None
    if request.mimetype in FORM_BODIES:
        name = request.form.get("username")
    else:
        body = request.get_json(silent=True, force=True)
        name = body.get("username") if isinstance(body, dict) else None
    return str(name if isinstance(name, str) else "").strip().casefold()


def login_failed(response: Response) -> bool:
    return response.status_code == 401


def throttle() -> LoginThrottle:
    """The app's throttle, made again if its settings changed (tests change them)."""
    config = current_app.config
    settings = (
        config.get("RATELIMIT_STORAGE_URI"),
        config["LOGIN_LIMIT_PER_ACCOUNT"],
        config["LOGIN_LIMIT_PER_ADDRESS"],
    )
    made = current_app.extensions.get(EXTENSION)
    if made is None or made[0] != settings:
        counts = counts_for(settings[0], lambda: db.engine)
        made = (settings, LoginThrottle(counts, Limit.parse(settings[1]), Limit.parse(settings[2])))
        current_app.extensions[EXTENSION] = made
    return made[1]  # type: ignore[no-any-return]


def limit_logins(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse with 429 and Retry-After after too many failed logins for an account or address
    (one count for /login and /api/auth/login)."""
    return limit_failures(login_account, "login")(view)


def limit_failures(
    account: Callable[[], str], scope: str, failed: Callable[[Response], bool] = login_failed
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The login limits for a form that guesses could be tried on (a two-factor code), with
    `account` naming the account being tried; `scope` keeps its account count apart, while
    the address count is one for every form."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def throttled(*args: Any, **kwargs: Any) -> Any:
            if request.method != "POST":
                return view(*args, **kwargs)
            attempt = throttle().begin(f"{scope}-account", account(), client_address())
            if attempt.refused:
                return too_many(attempt.retry_after)
            after_this_request(settle(attempt, failed))  # sees the answer error handlers made
            return view(*args, **kwargs)

        return throttled

    return decorate


def settle(attempt: Attempt, failed: Callable[[Response], bool]) -> Callable[[Response], Response]:
    def after(response: Response) -> Response:
        if failed(response):
            attempt.failed()
        else:
            attempt.succeeded()
        return response

    return after


def too_many(retry_after: int):  # type: ignore[no-untyped-def]
    headers = {"Retry-After": str(retry_after)}
    if wants_json():
        response = api_error(
            429,
            "TOO_MANY_REQUESTS",
            "too many failed attempts; retry after the time in the Retry-After header",
        )
        response.headers.update(headers)
        return response
    return (*error_page(429), headers)


def init_app(app: Flask) -> None:
    """A limit the throttle cannot read stops the start, naming the setting."""
    for name in ("LOGIN_LIMIT_PER_ACCOUNT", "LOGIN_LIMIT_PER_ADDRESS"):
        try:
            Limit.parse(app.config[name])
        except ValueError:
            raise ConfigError(
                f"{name}={app.config[name]!r} is not a limit like '10 per 15 minutes'"
            ) from None

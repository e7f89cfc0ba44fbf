"""Login throttling (Flask-Limiter): failed attempts are counted per account and per client
address, on the web form and the API alike. In memory by default; set RATELIMIT_STORAGE_URI
(e.g. redis://127.0.0.1:6379) so several processes share the counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter


def client_address() -> str:
    return request.remote_addr or "unknown"


def login_account() -> str:
    """The account being tried, from the form or the JSON body, case-folded."""
    body = request.get_json(silent=True) if request.is_json else None
    name = body.get("username") if isinstance(body, dict) else request.form.get("username")
    return f"account:{str(name or '').strip().lower()[:64]}"


def login_failed(response: Response) -> bool:
    return response.status_code == 401


limiter = Limiter(key_func=client_address, headers_enabled=True)


def limit_logins(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse with 429 and Retry-After after too many failed logins for an account or address."""
    return limit_failures(login_account, "login")(view)


def limit_failures(
    account: Callable[[], str], scope: str, failed: Callable[[Response], bool] = login_failed
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The login limits for another form that guesses could be tried on (a two-factor code),
    with `account` naming the account being tried."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        per_account = limiter.limit(
            lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
            key_func=account,
            methods=["POST"],
            deduct_when=failed,
            scope=f"{scope}-account",
        )
        per_address = limiter.limit(
            lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"],
            key_func=client_address,
            methods=["POST"],
            deduct_when=failed,
            scope=f"{scope}-address",
        )
        return per_address(per_account(view))

    return decorate


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)

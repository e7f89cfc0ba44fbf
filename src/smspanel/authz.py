"""Every route declares who may use it; a test walks the URL map and fails on any that doesn't."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

PUBLIC = "public"  # anyone: login, health, API docs
LOGIN = "login"  # a logged-in web user
ADMIN = "admin"  # a logged-in web admin; others get 403
TOKEN = "token"  # an API caller with a live bearer token
# Sending and changing things (templates, opt-outs, cancels): every role but viewer
# (services/departments.may_send); a viewer gets 403.
SEND = "send"  # a logged-in web user who may send
TOKEN_SEND = "token-send"  # an API caller who may send
# Prometheus: the METRICS_TOKEN bearer when that is set, else a caller on loopback (403 for
# others); no user is involved (metrics_endpoint.py).
SCRAPER = "scraper"

View = TypeVar("View", bound=Callable[..., Any])


def access_rule(rule: str) -> Callable[[View], View]:
    def mark(view: View) -> View:
        view.access_rule = rule  # type: ignore[attr-defined]
        return view

    return mark


public = access_rule(PUBLIC)


def rule_of(view: Callable[..., Any]) -> str | None:
    return getattr(view, "access_rule", None)

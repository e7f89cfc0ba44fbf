"""Who may see which page, and the pages people see when they may not."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort
from flask_login import current_user
from flask_login import login_required as flask_login_required

from smspanel.authz import ADMIN, LOGIN, SEND, access_rule
from smspanel.errors import error_page
from smspanel.services.departments import NotAllowedToSend, may_send


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Logged in; anyone else is sent to the login page."""
    return access_rule(LOGIN)(flask_login_required(view))


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Logged in and an admin; anyone else gets 403."""

    @wraps(view)
    @flask_login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return access_rule(ADMIN)(wrapper)


def sender_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Logged in and allowed to send (not a viewer); a viewer gets 403, saying why."""

    @wraps(view)
    @flask_login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not may_send(current_user.role):
            raise NotAllowedToSend()
        return view(*args, **kwargs)

    return access_rule(SEND)(wrapper)


def register_error_pages(bp: Blueprint) -> None:
    """Friendly 403/404 pages for this blueprint's views (the API keeps its JSON errors)."""
    for code in (403, 404):

        def handler(exc: Exception, code: int = code):  # type: ignore[no-untyped-def]
            return error_page(code)

        bp.register_error_handler(code, handler)

"""The language switch: `GET /lang/<code>?next=<path>` (English or 繁體中文), for anyone."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, request
from flask_login import current_user

from smspanel.authz import public
from smspanel.i18n import LANGUAGE_COOKIE, LANGUAGES
from smspanel.models import db
from smspanel.services.accounts import set_language
from smspanel.web.auth import safe_next

bp = Blueprint("language", __name__)

COOKIE_SECONDS = 365 * 24 * 3600


@bp.get("/lang/<code>", endpoint="choose")
@public
def choose(code: str):
    """Remember the choice in a cookie (and for a logged-in user, in their account), then go
    back to the page it was made on; only a path on this site, never elsewhere."""
    if code not in LANGUAGES:
        abort(404)
    if current_user.is_authenticated and current_user.language != code:
        set_language(db.session, current_user, code)
    response = redirect(safe_next(request.args.get("next")) or "/")
    response.set_cookie(
        LANGUAGE_COOKIE,
        code,
        max_age=COOKIE_SECONDS,
        samesite="Lax",
        httponly=True,
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )
    return response

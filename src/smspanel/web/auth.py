"""Logging in and out of the web interface (Flask-Login sessions)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user, login_user, logout_user

from smspanel.authz import public
from smspanel.i18n import refresh
from smspanel.models import db
from smspanel.services import two_factor
from smspanel.services.accounts import log_in
from smspanel.services.sessions import end_session
from smspanel.throttling import limit_logins
from smspanel.web.access import register_error_pages
from smspanel.web.forms import FormProblems, LoginForm
from smspanel.web.two_factor import begin_code_step

bp = Blueprint("auth", __name__)
register_error_pages(bp)

LOGIN_FAILED = lazy_gettext("invalid username or password")


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: never an open redirect to somewhere else."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or not target.isprintable():
        return None  # control characters would break the Location header (a 500)
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
@limit_logins
def login():
    if current_user.is_authenticated:
        return redirect(url_for("sms.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        user = log_in(
            db.session, form.username.data or "", form.password.data or "", request.remote_addr
        )
        if user is not None:
            session.clear()  # nothing from before the login survives it (no fixation)
            if two_factor.is_enabled(user):  # no login yet: the code comes first
                begin_code_step(user, safe_next(request.args.get("next")))
                return redirect(url_for("two_factor.login_code"))
        if user is None or not login_user(user):
            form.username.errors = [str(LOGIN_FAILED)]  # which of the two is never said
            form.password.data = ""
            problems = FormProblems.of_form(form)
            return render_template("login.html", form=form, form_problems=problems), 401
        refresh()  # the welcome is in the user's saved language, if they chose one
        flash(_("Welcome, %(username)s.", username=user.username), "success")
        return redirect(safe_next(request.args.get("next")) or url_for("sms.dashboard"))
    return render_template("login.html", form=form)


def came_from_another_site() -> bool:
    """Whether this request was started by another site (a link, an image, a redirect).

    The browser's `Sec-Fetch-Site` decides when it sends one; older browsers are judged by
    `Origin` or `Referer` naming another host. Neither header (a typed URL) is this site."""
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if fetch_site:
        return fetch_site == "cross-site"
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source:
        return False
    # An Origin of "null" (a sandboxed frame, a redirect across sites) names no host: not ours.
    return urlsplit(source).netloc.lower() != request.host.lower()


@bp.route("/logout", methods=["GET", "POST"])
@public
def logout():
    """POST (the header's button, CSRF-checked) logs out; so does a GET from this site or a
    typed URL. A GET started by another site asks first, so no site can log a user out."""
    if request.method == "GET" and current_user.is_authenticated and came_from_another_site():
        return render_template("logout_confirm.html")
    if current_user.is_authenticated:
        end_session(db.session, current_user.session_token)
        logout_user()
        session.clear()
        flash(_("You have been logged out."), "info")
    return redirect(url_for("auth.login"))

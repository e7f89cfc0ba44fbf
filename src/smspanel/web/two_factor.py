"""Two-factor sign-in on the web: enrolment and disabling (`/account/2fa`), the code step of
a login (`/login/2fa`), an admin's reset, and REQUIRE_2FA_FOR_ADMINS.

Between the password and the code nobody is logged in: the signed session cookie holds only
a pending-login marker (the user's id, when the password was right, and where to go next),
good for `PENDING_LOGIN_LIFETIME`. The rules are in services/two_factor.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from flask_login import current_user, login_user

from smspanel.authz import public
from smspanel.i18n import refresh
from smspanel.models import User, db
from smspanel.services import accounts, two_factor
from smspanel.services.two_factor import PENDING_LOGIN_LIFETIME, TwoFactorError
from smspanel.throttling import limit_failures
from smspanel.web.access import admin_required, login_required, register_error_pages
from smspanel.web.forms import DisableTwoFactorForm, FormProblems, TwoFactorCodeForm

bp = Blueprint("two_factor", __name__)
register_error_pages(bp)

PENDING_KEY = "two_factor_pending"
WRONG_CODE = lazy_gettext("that code is not right; try the code your app shows now")
# What an admin without two-factor sign-in may still open when REQUIRE_2FA_FOR_ADMINS is on.
OPEN_BEFORE_ENROLMENT = frozenset(
    {
        "static",
        "auth.login",
        "auth.logout",
        "language.choose",
        "two_factor.account",
        "two_factor.login_code",
    }
)
OUTSIDE_THE_WEB = frozenset({"api", "health"})  # bearer tokens and probes: unaffected


@dataclass(frozen=True)
class PendingLogin:
    user_id: int
    next_page: str | None
    expired: bool


def begin_code_step(user: User, next_page: str | None) -> None:
    """The password was right; the login waits for the code (`next_page` is already safe)."""
    session[PENDING_KEY] = {"user": user.id, "at": int(time.time()), "next": next_page}


def pending_login() -> PendingLogin | None:
    marker = session.get(PENDING_KEY)
    if not isinstance(marker, dict):
        return None
    user_id, started, next_page = marker.get("user"), marker.get("at"), marker.get("next")
    if not isinstance(user_id, int) or not isinstance(started, int):
        return None
    expired = time.time() - started > PENDING_LOGIN_LIFETIME.total_seconds()
    return PendingLogin(user_id, next_page if isinstance(next_page, str) else None, expired)


def pending_account() -> str:
    """Whose code is being tried, for the throttle (like the username at /login)."""
    waiting = pending_login()
    return f"user:{waiting.user_id}" if waiting else "user:none"


def current_account() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else "user:none"


def form_refused(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code in (401, 422)


@bp.route("/login/2fa", methods=["GET", "POST"])
@public
@limit_failures(pending_account, "login-code")
def login_code():
    if current_user.is_authenticated:
        return redirect(url_for("sms.dashboard"))
    waiting = pending_login()
    if waiting is None:
        return redirect(url_for("auth.login"))
    if waiting.expired:
        session.pop(PENDING_KEY, None)
        flash(_("That took too long. Please log in again."), "info")
        return redirect(url_for("auth.login"))
    form = TwoFactorCodeForm()
    if form.validate_on_submit():
        done = two_factor.complete_login(
            db.session, waiting.user_id, form.code.data or "", request.remote_addr
        )
        if done is None:
            form.code.errors = [*form.code.errors, str(WRONG_CODE)]
            problems = FormProblems.of_form(form)
            return render_template("login_two_factor.html", form=form, form_problems=problems), 401
        user, checked = done
        session.clear()  # the marker goes, and nothing from before the login survives it
        login_user(user)
        refresh()  # the welcome is in the user's saved language, if they chose one
        flash(_("Welcome, %(username)s.", username=user.username), "success")
        if checked.recovery_code:
            flash(
                ngettext(
                    "You used a recovery code; %(num)s is left. Set up your app again soon.",
                    "You used a recovery code; %(num)s are left. Set up your app again soon.",
                    checked.recovery_codes_left,
                ),
                "warning",
            )
        return redirect(waiting.next_page or url_for("sms.dashboard"))
    return render_template("login_two_factor.html", form=form)


@bp.route("/account/2fa", methods=["GET", "POST"])
@login_required
@limit_failures(current_account, "two-factor", failed=form_refused)
def account():
    user = current_user._get_current_object()  # the ORM object the services change
    if two_factor.is_enabled(user):
        return _manage(user)
    enrolment = two_factor.start_enrolment(db.session, user)
    form = TwoFactorCodeForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.confirm_enrolment(db.session, user, form.code.data or "")
        except TwoFactorError as exc:
            form.code.errors = [*form.code.errors, str(exc)]
        else:
            flash(_("Two-factor sign-in is on."), "success")
            return render_template("account_two_factor.html", recovery_codes=codes, user=user)
    status = 422 if request.method == "POST" else 200
    required = current_app.config["REQUIRE_2FA_FOR_ADMINS"] and user.is_admin
    page = render_template(
        "account_two_factor.html",
        enrolment=enrolment,
        form=form,
        user=user,
        required=required,
        form_problems=FormProblems.of_form(
            form, _("Two-factor sign-in was not turned on."), {"code": _("Code from the app")}
        ),
    )
    return page, status


def _manage(user: User):  # type: ignore[no-untyped-def]
    form = DisableTwoFactorForm()
    if form.validate_on_submit():
        try:
            two_factor.disable(db.session, user, form.password.data or "", form.code.data or "")
        except TwoFactorError as exc:
            field = form.password if exc.field == "password" else form.code
            field.errors = [*field.errors, str(exc)]
        else:
            flash(_("Two-factor sign-in is off."), "success")
            return redirect(url_for("two_factor.account"))
    status = 422 if request.method == "POST" else 200
    page = render_template(
        "account_two_factor.html",
        disable_form=form,
        user=user,
        form_problems=FormProblems.of_form(
            form,
            _("Two-factor sign-in is still on."),
            {"code": _("Code from the app or a recovery code")},
        ),
        codes_left=two_factor.recovery_codes_left(db.session, user),
    )
    return page, status


@bp.post("/admin/users/<int:user_id>/reset-2fa")
@admin_required
def admin_reset(user_id: int):
    target = accounts.get_user(db.session, user_id)
    if target is None:
        abort(404)
    try:
        two_factor.reset(db.session, current_user._get_current_object(), target)
    except TwoFactorError as exc:
        flash(_("Not changed: %(problem)s.", problem=exc), "error")
    else:
        flash(
            _(
                "Two-factor sign-in is off for %(username)s; they can set it up again.",
                username=target.username,
            ),
            "success",
        )
    return redirect(url_for("admin.users", page=request.args.get("page") or None))


@bp.before_app_request
def admins_enrol_first():  # type: ignore[no-untyped-def]
    """With REQUIRE_2FA_FOR_ADMINS, an admin without two-factor sign-in sees only the
    enrolment page (and can still log out or switch language)."""
    if not current_app.config.get("REQUIRE_2FA_FOR_ADMINS"):
        return None
    if (request.blueprint or "").split(".")[0] in OUTSIDE_THE_WEB:
        return None
    if request.endpoint is None or request.endpoint in OPEN_BEFORE_ENROLMENT:
        return None
    if (
        current_user.is_authenticated
        and current_user.is_admin
        and not two_factor.is_enabled(current_user)
    ):
        return redirect(url_for("two_factor.account"))
    return None

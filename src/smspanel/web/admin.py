"""Administration: user accounts and every user's messages. Admins only."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import Field

from smspanel.models import User, db
from smspanel.services import accounts, audit
from smspanel.services.accounts import UserError, create_user, set_password
from smspanel.services.departments import (
    ROLES,
    DepartmentError,
    assign,
    list_departments,
    read_assignment,
)
from smspanel.services.history_filters import HistoryFilters
from smspanel.services.ownership import EVERYONE
from smspanel.services.pagination import parse_page
from smspanel.services.passwords import MIN_PASSWORD_LENGTH
from smspanel.services.tokens import TokenError, expiry_in_days
from smspanel.web.access import admin_required, register_error_pages
from smspanel.web.forms import (
    AssignmentForm,
    CreateUserForm,
    FormProblems,
    PasswordForm,
    RegenerateTokenForm,
)
from smspanel.web.sms import history_page

bp = Blueprint("admin", __name__, url_prefix="/admin")
register_error_pages(bp)


def target_user(user_id: int) -> User:
    user = accounts.get_user(db.session, user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/users")
@admin_required
def users():
    return users_page()


def users_page(status: int = 200, **shown: object):
    """The users list; `shown` adds a just-issued token or a refused regenerate form."""
    page = accounts.list_users(db.session, parse_page(request.args.get("page")))
    return render_template("admin/users.html", page=page, **shown), status


def assignment_choices() -> dict[str, object]:
    """What the department and role fields offer (admin/_assignment_fields.html)."""
    return {"departments": list_departments(db.session), "roles": ROLES}


def show_assignment_errors(form: AssignmentForm, exc: DepartmentError) -> None:
    for field, problem in exc.errors.items():
        add_error(getattr(form, field), problem)


def add_error(field: Field, problem: object) -> None:
    field.errors = [*field.errors, str(problem)]


@bp.route("/users/create", methods=["GET", "POST"])
@admin_required
def create():
    form = CreateUserForm()
    if form.is_submitted():
        # Every check at once (the form's, the assignment's, the account rules), so the
        # page names every problem together rather than one layer at a time.
        valid = form.validate()
        assignment = None
        try:
            # A forged department or role refuses the whole form: nothing is created.
            assignment = read_assignment(db.session, form.department_id.data, form.role.data)
        except DepartmentError as exc:
            show_assignment_errors(form, exc)
        username, password = form.username.data or "", form.password.data or ""
        for name, problem in accounts.new_user_problems(db.session, username, password).items():
            field = getattr(form, name)
            if not field.errors:  # "enter a username" says enough about an empty one
                add_error(field, problem)
        if valid and assignment is not None and not form.errors:
            try:
                user = create_user(
                    db.session,
                    username,
                    password,
                    is_admin=bool(form.is_admin.data),
                    assignment=assignment,
                )
            except UserError as exc:  # taken meanwhile
                add_error(form.password if exc.field == "password" else form.username, exc)
            else:
                if user.is_admin:
                    flash(
                        _("Created administrator %(username)s.", username=user.username), "success"
                    )
                else:
                    flash(_("Created user %(username)s.", username=user.username), "success")
                return redirect(url_for("admin.users"))
    status = 422 if request.method == "POST" else 200
    page = render_template(
        "admin/user_create.html",
        form=form,
        min_password_length=MIN_PASSWORD_LENGTH,
        form_problems=FormProblems.of_form(
            form,
            _("The user was not created. Please correct the problems shown below."),
            {  # the page's order and words (templates/admin/user_create.html)
                "username": _("Username"),
                "password": _("Password"),
                "confirm_password": _("Confirm password"),
            },
        ),
        **assignment_choices(),
    )
    return page, status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def user(user_id: int):
    """A user's page: their department and role."""
    target = target_user(user_id)
    form = AssignmentForm(
        data={"department_id": str(target.department_id or ""), "role": target.role}
    )
    status = 200
    if form.validate_on_submit():
        try:
            assignment = read_assignment(db.session, form.department_id.data, form.role.data)
        except DepartmentError as exc:
            show_assignment_errors(form, exc)
        else:
            if assign(db.session, target, assignment):
                flash(
                    _("Saved the department and role of %(username)s.", username=target.username),
                    "success",
                )
            else:
                flash(_("Nothing to change for %(username)s.", username=target.username), "info")
            return redirect(url_for("admin.user", user_id=target.id))
    if request.method == "POST":
        status = 422
    problems = FormProblems.of_form(
        form, _("Nothing was changed. Please correct the problems shown below.")
    )
    page = render_template(
        "admin/user.html", user=target, form=form, form_problems=problems, **assignment_choices()
    )
    return page, status


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@admin_required
def password(user_id: int):
    user = target_user(user_id)
    form = PasswordForm()
    if form.is_submitted():
        valid = form.validate()
        try:
            accounts.check_new_password(user, form.password.data or "")
        except UserError as exc:
            if not form.password.errors:
                add_error(form.password, exc)
        if valid and not form.errors:
            keep = current_user.session_token if user.id == current_user.id else None
            revoked = set_password(
                db.session, user, form.password.data or "", keep_session_token=keep
            )
            flash(
                ngettext(
                    "Password changed for %(username)s. Their %(count)s API token was revoked.",
                    "Password changed for %(username)s. Their %(count)s API tokens were revoked.",
                    revoked,
                    username=user.username,
                    count=format_decimal(revoked),
                ),
                "success",
            )
            return redirect(url_for("admin.users"))
    status = 422 if request.method == "POST" else 200
    problems = FormProblems.of_form(
        form, _("The password was not changed. Please correct the problems shown below.")
    )
    page = render_template(
        "admin/user_password.html",
        form=form,
        user=user,
        min_password_length=MIN_PASSWORD_LENGTH,
        form_problems=problems,
    )
    return page, status


@bp.post("/users/<int:user_id>/toggle")
@admin_required
def toggle(user_id: int):
    user = target_user(user_id)
    try:
        accounts.toggle_active(db.session, current_user, user)
    except UserError as exc:
        flash(_("Not changed: %(problem)s.", problem=exc), "error")
    else:
        if user.is_active:
            flash(_("%(username)s is now enabled.", username=user.username), "success")
        else:
            flash(_("%(username)s is now disabled.", username=user.username), "success")
    return redirect(url_for("admin.users", page=request.args.get("page") or None))


@bp.route("/users/<int:user_id>/delete", methods=["GET", "POST"])
@admin_required
def delete(user_id: int):
    user = target_user(user_id)
    if request.method == "POST":
        username = user.username
        try:
            kept = accounts.delete_user(db.session, current_user, user)
        except UserError as exc:
            flash(_("Not deleted: %(problem)s.", problem=exc), "error")
        else:
            flash(
                ngettext(
                    "Deleted %(username)s. Their %(count)s message stays in the history without "
                    "a sender.",
                    "Deleted %(username)s. Their %(count)s messages stay in the history without "
                    "a sender.",
                    kept,
                    username=username,
                    count=format_decimal(kept),
                ),
                "success",
            )
        return redirect(url_for("admin.users"))
    return render_template(
        "admin/user_delete.html",
        user=user,
        message_count=accounts.message_count(db.session, user.id),
        is_self=user.id == current_user.id,
    )


@bp.post("/users/<int:user_id>/regenerate_token")
@admin_required
def regenerate_token(user_id: int):
    """The new token is shown in this answer only: never kept in the (client-side) session
    cookie, where anyone holding the cookie could read it or replay it to see it again."""
    user = target_user(user_id)
    form = RegenerateTokenForm()
    typed = form.expires_in_days.data or ""
    try:
        expires_at = expiry_in_days(typed)
    except TokenError as exc:
        flash(_("No token was issued. Please correct the problem shown below."), "error")
        refused = {"user_id": user.id, "value": typed, "message": str(exc)}
        return users_page(422, refused_expiry=refused)
    token = accounts.regenerate_token(db.session, user, expires_at)
    flash(
        _(
            "New API token issued for %(username)s; their earlier tokens no longer work. "
            "Copy it now: it is shown only once.",
            username=user.username,
        ),
        "success",
    )
    new_token = {"username": user.username, "token": token, "expires_at": expires_at}
    return users_page(new_token=new_token)


@bp.get("/messages")
@admin_required
def messages():
    return history_page("admin/messages.html", EVERYONE)


@bp.get("/audit")
@admin_required
def audit_log():
    """Who did what and when: read-only, newest first, with filters."""
    filters = HistoryFilters.from_args(request.args)
    action = request.args.get("action", "")
    if action and action not in audit.ACTIONS:
        filters.errors.append(_("unknown action %(action)s", action=repr(action)))
        action = ""
    for problem in filters.errors:
        flash(_("Filter ignored: %(problem)s.", problem=problem), "warning")
    events = audit.list_events(
        db.session,
        action=action,
        search=filters.search,
        date_from=filters.date_from,
        date_to=filters.date_to,
        page=filters.page,
    )
    return render_template(
        "admin/audit.html",
        events=events,
        filters=filters,
        action=action,
        actions=audit.ACTIONS,
        query_args={**filters.query_args(), "action": action or None},
    )

"""The opt-out register page (UEMO s.9-10): list, search, add, import, remove, export.
Admins only; services/opt_outs.py holds the rules."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from werkzeug.exceptions import RequestEntityTooLarge

from smspanel.models import db
from smspanel.services import opt_outs
from smspanel.services.opt_outs import AddResult, NotOnRegister, OptOutRefused
from smspanel.services.pagination import parse_page
from smspanel.services.phone import display_phone, normalize_phone
from smspanel.services.uploads import file_size
from smspanel.web.access import admin_required, register_error_pages
from smspanel.web.exports import csv_download
from smspanel.web.file_parts import accepts_files, check_file_parts
from smspanel.web.forms import FormProblems
from smspanel.web.uploads import DRAIN_TIMES_THE_LIMIT, FORM_ALLOWANCE, check_csrf, drain_body

bp = Blueprint("opt_outs", __name__, url_prefix="/admin/opt-outs")
NOTHING_ADDED = lazy_gettext("Nothing was added. Please correct the problems shown below.")
register_error_pages(bp)


def register_page(
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
    form: dict[str, str] | None = None,
    removal: dict[str, Any] | None = None,
    outcome: str = "",
):
    """The page: the register (searched, a page of it), its forms, and a number's history
    when the search is one whole number."""
    search = request.args.get("search", "").strip()
    page = opt_outs.list_opt_outs(db.session, search, parse_page(request.args.get("page")))
    number = normalize_phone(search) if search else None
    records = opt_outs.history(db.session, number) if number else []
    return (
        render_template(
            "admin/opt_outs.html",
            page=page,
            search=search,
            number=number,
            records=records,
            errors=errors or {},
            form_problems=refused_form_problems(errors or {}, removal or {}, outcome),
            form=form or {},
            removal=removal or {},
            max_size=file_size(current_app.config["UPLOAD_MAX_BYTES"]),
        ),
        status,
    )


def refused_form_problems(
    errors: dict[str, list[str]], removal: dict[str, Any], outcome: str
) -> FormProblems:
    """The add and import forms' problems, or a removal's (its reason field is the row's)."""
    if removal:
        field = f"remove-reason-{removal['phone']}"
        return FormProblems.of_errors(
            removal.get("errors", {}),
            {"reason": _("Reason for removing %(phone)s", phone=display_phone(removal["phone"]))},
            outcome,
            ids={"reason": field},
        )
    labels = {"phones": _("Phone numbers"), "reason": _("Reason"), "file": _("File")}
    return FormProblems.of_errors(errors, labels, outcome)


def added_note(result: AddResult) -> str:
    added = ngettext(
        "%(num)s number added to the opt-out register",
        "%(num)s numbers added to the opt-out register",
        len(result.added),
    )
    if not result.already:
        return added + "."
    already = ngettext(
        "%(num)s was on it already",
        "%(num)s were on it already",
        len(result.already),
    )
    return _("%(added)s; %(already)s.", added=added, already=already)


@bp.get("")
@admin_required
def index():
    return register_page()


@bp.post("")
@accepts_files("file")
@admin_required
def add():
    """The add form (`phones`, `reason`) and the import form (`file`, `reason`) both post
    here. The body may be a file up to UPLOAD_MAX_BYTES, so this view raises the request's
    limit first and checks the CSRF token itself (web/__init__.py exempts it)."""
    max_bytes = current_app.config["UPLOAD_MAX_BYTES"]
    request.max_content_length = max_bytes + FORM_ALLOWANCE
    try:
        request.files  # noqa: B018  (reads the body, under the limit just set)
    except RequestEntityTooLarge:
        drain_body(DRAIN_TIMES_THE_LIMIT * max_bytes)
        message = _("the file is larger than %(size)s", size=file_size(max_bytes))
        return register_page(413, {"file": [message]}, outcome=str(NOTHING_ADDED))
    check_csrf()
    check_file_parts()
    reason = request.form.get("reason", "")
    file = request.files.get("file")
    typed = {"phones": request.form.get("phones", ""), "reason": reason}
    try:
        if file is not None and file.filename:
            result = opt_outs.import_file(db.session, file.read(), reason)
        else:
            result = opt_outs.add_lines(db.session, typed["phones"], reason, source="web")
    except OptOutRefused as exc:
        return register_page(422, exc.errors, typed, outcome=str(NOTHING_ADDED))
    flash(added_note(result), "success")
    return redirect(url_for("opt_outs.index"))


@bp.post("/<phone>/remove")
@admin_required
def remove(phone: str):
    reason = request.form.get("reason", "")
    try:
        removed = opt_outs.remove_number(db.session, phone, reason, source="web")
    except OptOutRefused as exc:
        return register_page(
            422,
            removal={"phone": phone, "errors": exc.errors},
            outcome=_("The number was not removed. Please give a reason."),
        )
    except NotOnRegister:
        flash(_("%(phone)s is not on the opt-out register.", phone=phone), "error")
        return redirect(url_for("opt_outs.index"))
    flash(
        _(
            "%(phone)s was removed from the opt-out register; its record is kept.",
            phone=display_phone(removed),
        ),
        "success",
    )
    return redirect(url_for("opt_outs.index", search=request.args.get("search") or None))


@bp.get("/export.csv")
@admin_required
def export():
    return csv_download(opt_outs.export_opt_outs(db.session))

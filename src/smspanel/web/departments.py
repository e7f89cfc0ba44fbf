"""Administration of departments: the list with a create form, and each department's
members, monthly segment quota and approval threshold. Admins only."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from smspanel.models import Department, db
from smspanel.services import departments
from smspanel.services.departments import DepartmentError
from smspanel.web.access import admin_required, register_error_pages
from smspanel.web.forms import DepartmentForm, DepartmentLimitsForm, FormProblems

bp = Blueprint("departments", __name__, url_prefix="/admin/departments")
register_error_pages(bp)


def stored_department(department_id: int) -> Department:
    department = departments.find_department(db.session, department_id)
    if department is None:
        abort(404)
    return department


def show_errors(form, exc: DepartmentError) -> None:  # type: ignore[no-untyped-def]
    for field, problem in exc.errors.items():
        getattr(form, field).errors = [problem]


@bp.route("", methods=["GET", "POST"], endpoint="list")
@admin_required
def department_list():
    form = DepartmentForm()
    status = 200
    if form.validate_on_submit():
        try:
            department = departments.create_department(db.session, form.name.data or "")
        except DepartmentError as exc:
            show_errors(form, exc)
        else:
            flash(_("Created department %(name)s.", name=department.name), "success")
            return redirect(url_for("departments.detail", department_id=department.id))
    if request.method == "POST":
        status = 422
    problems = FormProblems.of_form(
        form, _("The department was not created. Please correct the problems shown below.")
    )
    page = render_template(
        "admin/departments.html",
        form=form,
        rows=departments.list_departments(db.session),
        form_problems=problems,
    )
    return page, status


@bp.route("/<int:department_id>", methods=["GET", "POST"], endpoint="detail")
@admin_required
def department_detail(department_id: int):
    department = stored_department(department_id)
    form = DepartmentLimitsForm(  # a field left out of a POST keeps its value
        data={
            "monthly_segment_quota": str(department.monthly_segment_quota),
            "approval_threshold": str(department.approval_threshold),
        },
    )
    status = 200
    if form.validate_on_submit():
        try:
            departments.update_limits(
                db.session,
                department,
                form.monthly_segment_quota.data,
                form.approval_threshold.data,
            )
        except DepartmentError as exc:
            show_errors(form, exc)
        else:
            flash(_("Saved the limits of %(name)s.", name=department.name), "success")
            return redirect(url_for("departments.detail", department_id=department.id))
    if request.method == "POST":
        status = 422
    page = render_template(
        "admin/department.html",
        department=department,
        form=form,
        form_problems=FormProblems.of_form(
            form, _("Nothing was changed. Please correct the problems shown below.")
        ),
        members=departments.members(db.session, department.id),
    )
    return page, status

"""Templates on the web: list, create, edit, delete. Shared, so any logged-in user may
read them and anyone who may send (every role but viewer) may change them."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user

from smspanel.models import Template, db
from smspanel.services.compose import content_stats, counter_rules, normalize_line_endings
from smspanel.services.placeholders import placeholders
from smspanel.services.templates import (
    InvalidTemplate,
    ScheduledUse,
    TemplateInUse,
    TemplateNotFound,
    create_template,
    delete_template,
    find_template,
    list_templates,
    update_template,
)
from smspanel.web.access import login_required, register_error_pages, sender_required
from smspanel.web.forms import FormProblems, TemplateForm
from smspanel.web.sms import readers_scope

bp = Blueprint("templates", __name__)
register_error_pages(bp)

# Where the send-from-a-file page lives (its own blueprint, so a plain path here).
UPLOAD_PATH = "/send/upload"
NOT_SAVED = lazy_gettext("The template was not saved. Please correct the problems shown below.")


def stored_template(template_id: int) -> Template:
    template = find_template(db.session, template_id)
    if template is None:
        abort(404)
    return template


def list_page(refused: TemplateInUse | None = None, refused_template: Template | None = None):
    return render_template(
        "message_templates/list.html",
        templates=list_templates(db.session),
        placeholders=placeholders,
        upload_path=UPLOAD_PATH,
        refused=refused,
        refused_template=refused_template,
        readable=readable,
    )


def readable(use: ScheduledUse) -> bool:
    """Whether the logged-in user may open the message a template is scheduled in."""
    return readers_scope().includes(use)


def form_page(form: TemplateForm, template: Template | None, errors, status: int = 200, **extra):
    content = normalize_line_endings(form.content.data or "")
    return (
        render_template(
            "message_templates/form.html",
            form=form,
            template=template,
            errors=errors,
            form_problems=FormProblems.of_errors(
                errors, {"name": _("Name"), "content": _("Message")}, NOT_SAVED
            ),
            stats=content_stats(content),
            found=placeholders(content),
            rules=counter_rules(),
            readable=readable,
            **extra,
        ),
        status,
    )


@bp.get("/templates", endpoint="list")
@login_required
def template_list():
    return list_page()


@bp.route("/templates/new", methods=["GET", "POST"], endpoint="new")
@sender_required
def new_template():
    form = TemplateForm()
    if form.validate_on_submit():
        try:
            template = create_template(
                db.session, current_user.id, form.name.data or "", form.content.data or ""
            )
        except InvalidTemplate as exc:
            return form_page(form, None, exc.errors, 422)
        flash(_("Template “%(name)s” created.", name=template.name), "success")
        return redirect(url_for("templates.list"))
    return form_page(form, None, {}, 400 if request.method == "POST" else 200)


@bp.route("/templates/<int:template_id>/edit", methods=["GET", "POST"], endpoint="edit")
@sender_required
def edit_template(template_id: int):
    template = stored_template(template_id)
    form = TemplateForm(obj=template) if request.method == "GET" else TemplateForm()
    if form.validate_on_submit():
        try:
            template = update_template(
                db.session, template_id, form.name.data or "", form.content.data or ""
            )
        except TemplateNotFound:
            abort(404)
        except InvalidTemplate as exc:
            return form_page(form, template, exc.errors, 422)
        flash(_("Template “%(name)s” saved.", name=template.name), "success")
        return redirect(url_for("templates.list"))
    return form_page(form, template, {}, 400 if request.method == "POST" else 200)


@bp.post("/templates/<int:template_id>/delete", endpoint="delete")
@sender_required
def delete(template_id: int):
    template = stored_template(template_id)
    try:
        name = delete_template(db.session, template_id)
    except TemplateNotFound:
        abort(404)
    except TemplateInUse as exc:
        flash(
            _(
                "Template “%(name)s” was not deleted: scheduled messages use it.",
                name=template.name,
            ),
            "error",
        )
        if request.form.get("return_to") == "edit":
            form = TemplateForm(obj=template)
            return form_page(form, template, {}, 409, refused=exc)
        return list_page(exc, template), 409
    flash(
        _(
            "Template “%(name)s” deleted. Messages already sent from it keep their record.",
            name=name,
        ),
        "success",
    )
    return redirect(url_for("templates.list"))

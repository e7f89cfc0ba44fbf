"""The dead-letter queue page: review recipients that failed for good, retry or abandon them."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal, ngettext
from flask_babel import gettext as _

from smspanel.models import DeadLetterStatus, db
from smspanel.services import dead_letter
from smspanel.services.pagination import parse_page
from smspanel.web.access import admin_required, register_error_pages

bp = Blueprint("dead_letter", __name__, url_prefix="/admin/dead-letter")
register_error_pages(bp)


def back_to_list():
    """Return to the listing the admin was looking at (status filter and page kept)."""
    status = request.form.get("status") or request.args.get("status")
    page = request.form.get("page") or request.args.get("page")
    return redirect(
        url_for(
            "dead_letter.index",
            status=status if status in tuple(DeadLetterStatus) else None,
            page=page if page and page.isdigit() and page != "1" else None,
        )
    )


@bp.get("")
@admin_required
def index():
    status = request.args.get("status", "")
    if status not in tuple(DeadLetterStatus):
        status = ""
    return render_template(
        "admin/dead_letter.html",
        counts=dead_letter.status_counts(db.session),
        page=dead_letter.list_dead_letters(
            db.session, status, parse_page(request.args.get("page"))
        ),
        status=status,
        statuses=tuple(DeadLetterStatus),
    )


@bp.post("/<int:entry_id>/retry")
@admin_required
def retry(entry_id: int):
    try:
        dead_letter.retry(db.session, [entry_id])
    except dead_letter.DeadLetterError as exc:
        flash(_("Not retried: %(problem)s.", problem=exc), "error")
    else:
        flash(_("Entry #%(id)s is back in the delivery queue.", id=entry_id), "success")
    return back_to_list()


@bp.post("/retry-all")
@admin_required
def retry_all():
    count = dead_letter.retry(db.session)
    if count:
        flash(
            ngettext(
                "%(count)s pending entry is back in the queue.",
                "%(count)s pending entries are back in the queue.",
                count,
                count=format_decimal(count),
            ),
            "success",
        )
    else:
        flash(_("There were no pending entries to retry."), "info")
    return back_to_list()


@bp.post("/<int:entry_id>/abandon")
@admin_required
def abandon(entry_id: int):
    try:
        dead_letter.abandon(db.session, entry_id)
    except dead_letter.DeadLetterError as exc:
        flash(_("Not abandoned: %(problem)s.", problem=exc), "error")
    else:
        flash(_("Entry #%(id)s abandoned: its recipient stays failed.", id=entry_id), "success")
    return back_to_list()

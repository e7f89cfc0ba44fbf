"""The admins' page of every department's monthly quota use (services/quotas.py)."""

from __future__ import annotations

from flask import Blueprint, flash, render_template, request
from flask_babel import gettext as _

from smspanel.models import db, utcnow
from smspanel.services.quotas import departments_usage, month_of, neighbour_months, parse_month
from smspanel.web.access import admin_required, register_error_pages

bp = Blueprint("usage", __name__, url_prefix="/admin/usage")
register_error_pages(bp)


@bp.get("")
@admin_required
def index():
    """This HKT month by default; `month=YYYY-MM` for another."""
    current = month_of(utcnow())
    asked = request.args.get("month", "")
    month = parse_month(asked) if asked else current
    if month is None:
        flash(_("Month ignored: %(month)s is not a month like 2026-12.", month=asked), "warning")
        month = current
    previous, following = neighbour_months(month)
    return render_template(
        "admin/usage.html",
        month=month,
        current=current,
        previous=previous,
        following=following if following <= current else None,
        departments=departments_usage(db.session, month),
    )

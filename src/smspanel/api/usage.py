"""GET /api/usage: this month's use of the caller's department's segment quota."""

from __future__ import annotations

from smspanel.api.auth import current_api_user, token_required
from smspanel.api.blueprint import bp
from smspanel.api.operations import operation
from smspanel.api.schemas import UsageData, respond
from smspanel.models import db, utcnow
from smspanel.services.quotas import month_usage


@bp.get("/usage")
@token_required
@operation(
    "This month's use of the monthly segment quota",
    responds=(200, UsageData, "The month's use"),
    errors=(401, 503),
)
def usage():
    """The HKT calendar month's SMS segments, messages and recipients of the caller's
    department, with its quota (0 = none); without a department, the caller's own, quota 0.
    Segments of recipients cancelled or skipped are given back."""
    used = month_usage(db.session, current_api_user().id, utcnow())
    data = UsageData(
        month=used.month,
        segments_used=used.segments_used,
        quota=used.quota,
        messages=used.messages,
        recipients=used.recipients,
    )
    return respond(data)

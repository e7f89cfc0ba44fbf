"""CSV downloads on the web: a message's recipients, and the filtered history's messages."""

from __future__ import annotations

from flask import Blueprint, Response, request, stream_with_context

from smspanel.models import db
from smspanel.services.exports import CsvExport, export_messages, export_recipients
from smspanel.services.history_filters import HistoryFilters
from smspanel.services.ownership import EVERYONE, MessageScope
from smspanel.web.access import admin_required, login_required, register_error_pages
from smspanel.web.sms import own_scope, readable_message_or_404

bp = Blueprint("exports", __name__)
register_error_pages(bp)


def csv_download(export: CsvExport) -> Response:
    """The file streamed as it is read; the request's context (and its database session)
    lives until the last chunk is sent."""
    return Response(stream_with_context(export.chunks), headers=export.headers())


@bp.get("/history/<int:message_id>/export.csv")
@login_required
def message_recipients_csv(message_id: int):
    """Whoever may open the message's page may download its recipients."""
    return csv_download(export_recipients(db.session, readable_message_or_404(message_id)))


def messages_csv(scope: MessageScope) -> Response:
    """The messages the history page shows with the same query string (all its pages)."""
    filters = HistoryFilters.from_args(request.args)
    return csv_download(export_messages(db.session, filters, scope))


@bp.get("/history/export.csv")
@login_required
def history_csv():
    return messages_csv(own_scope())


@bp.get("/admin/messages/export.csv")
@admin_required
def all_messages_csv():
    return messages_csv(EVERYONE)

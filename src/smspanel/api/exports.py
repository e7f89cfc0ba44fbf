"""CSV downloads over the API: the caller's own message's recipients."""

from __future__ import annotations

from flask import Response, stream_with_context

from smspanel.api.auth import token_required
from smspanel.api.blueprint import bp
from smspanel.api.operations import CsvFile, operation
from smspanel.api.sms import MESSAGE_ID, owned_message
from smspanel.models import db
from smspanel.services.exports import RECIPIENT_COLUMNS, export_recipients


@bp.get("/sms/<int:message_id>/recipients.csv")
@token_required
@operation(
    "Every recipient of one message as a CSV file (UTF-8 with BOM, HKT times), streamed",
    path=(MESSAGE_ID,),
    responds=(
        200,
        CsvFile(RECIPIENT_COLUMNS),
        "One row per recipient, in the order sent; a personalised message adds `content` "
        "last. Cells that would start a formula begin with `'`.",
    ),
    errors=(401, 404, 503),
)
def message_recipients_csv(message_id: int):
    export = export_recipients(db.session, owned_message(message_id))
    return Response(stream_with_context(export.chunks), headers=export.headers())

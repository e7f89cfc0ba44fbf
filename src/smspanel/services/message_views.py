"""A message and its recipients as the API shows them: `GET /api/sms/<id>` and
`GET /api/sms/<id>/recipients` answer these fields, and webhook events carry the same ones,
so a receiver reads in an event exactly what the API would have answered.

Times are aware datetimes in Hong Kong time; `as_json` turns a view into JSON values the way
the API's answers do (pydantic's serializer: ISO 8601 with `+08:00`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python

from smspanel.hktime import to_hkt
from smspanel.models import Message, RecipientStatus


def message_view(m: Message) -> dict[str, Any]:
    """A message with its delivery counts, as `GET /api/sms/<id>` answers it."""
    return {
        "id": m.id,
        "content": m.content,
        "status": m.status,
        "created_at": to_hkt(m.created_at),
        "sent_at": to_hkt(m.completed_at),
        "recipient_count": m.recipient_count,
        "success_count": m.sent_count,
        "failed_count": m.failed_count,
        "pending_count": m.pending_count,
        "skipped_count": m.skipped_count,
        "cancelled_count": m.cancelled_count,
        "segments": m.segments,
        "scheduled_at": to_hkt(m.scheduled_at),
        "commercial": m.commercial,
        "priority": m.priority,
        "decided_by": m.decided_by_name,
        "decided_at": to_hkt(m.decided_at),
        "rejection_reason": m.rejection_reason,
    }


# The recipient columns `recipient_view` reads: a Recipient, or a row of these columns.
RECIPIENT_COLUMNS = (
    "id",
    "phone",
    "status",
    "error_message",
    "attempts",
    "sent_at",
    "skip_reason",
    "content",
)


def recipient_view(r: Any) -> dict[str, Any]:
    """One recipient and what happened to it, as `GET /api/sms/<id>/recipients` lists it."""
    return {
        "id": r.id,
        "phone": r.phone,
        "status": r.status,
        "error_message": r.error_message if r.status != RecipientStatus.SENT else None,
        "attempts": r.attempts,
        "sent_at": to_hkt(r.sent_at),
        "skip_reason": r.skip_reason,
        "content": r.content,
    }


def as_json(view: Any) -> Any:
    """A view (or a structure of them) as JSON values, written as the API writes them."""
    return to_jsonable_python(view)


def json_text(value: Any) -> str:
    """`value` (views inside it) as compact JSON text, its times written as `as_json` writes
    them (ISO 8601, `+08:00`): at a tenth of the cost, for a thousand recipients at once."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_value)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return as_json(value)

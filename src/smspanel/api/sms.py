"""Sending and reading messages over the API; a user only ever sees their own."""

from __future__ import annotations

import math

from flask import request
from sqlalchemy import select

from smspanel.api.auth import current_api_user, token_required
from smspanel.api.blueprint import bp
from smspanel.api.operations import PathId, QueryInt, operation
from smspanel.api.schemas import (
    BulkSendRequest,
    MessageDetail,
    MessagePage,
    MessageSummary,
    RecipientList,
    RecipientOut,
    SendAccepted,
    SendRequest,
    parse_body,
    respond,
)
from smspanel.errors import ApiError
from smspanel.hktime import to_hkt
from smspanel.models import Message, Recipient, db
from smspanel.services.api_listing import list_api_messages
from smspanel.services.content import InvalidContent
from smspanel.services.ownership import MessageScope, find_message
from smspanel.services.phone import InvalidRecipients, NoRecipients
from smspanel.services.sending import TooManyRecipients, accept_send

MAX_PAGE = 1_000_000
PAGE = QueryInt("page", default=1, maximum=MAX_PAGE)
MESSAGES_PER_PAGE = QueryInt("per_page", default=20, cap=100)
RECIPIENTS_PER_PAGE = QueryInt("per_page", default=100, cap=1000)
MESSAGE_ID = PathId("message_id")


def queue_send(recipients: list[str], content: str, field: str):
    try:
        message = accept_send(db.session, current_api_user().id, recipients, content)
    except InvalidRecipients as exc:
        details = [
            {
                "field": field if field == "recipient" else f"{field}[{e.position - 1}]",
                "value": e.value,
                "message": "not a Hong Kong number (8 digits, optionally '1234 5678')",
            }
            for e in exc.invalid
        ]
        raise ApiError(400, "INVALID_RECIPIENTS", str(exc), details) from None
    except NoRecipients as exc:
        raise ApiError(
            400, "VALIDATION_ERROR", f"{field}: {exc}", [{"field": field, "message": str(exc)}]
        ) from None
    except (InvalidContent, TooManyRecipients) as exc:
        name = "content" if isinstance(exc, InvalidContent) else field
        raise ApiError(
            400, "VALIDATION_ERROR", f"{name}: {exc}", [{"field": name, "message": str(exc)}]
        ) from None
    accepted = SendAccepted(
        id=message.id,
        status=message.status,
        recipient_count=message.recipient_count,
        segments=message.segments,
        created_at=to_hkt(message.created_at),
    )
    return respond(accepted, f"queued for {message.recipient_count} recipient(s)", 202)


@bp.post("/sms")
@token_required
@operation(
    "Queue one SMS to one number",
    body=SendRequest,
    responds=(202, SendAccepted, "Queued"),
    errors=(400, 401, 413, 503),
)
def send_one():
    """Queue one SMS to one number."""
    body = parse_body(SendRequest)
    return queue_send([body.recipient], body.content, "recipient")


@bp.post("/sms/send-bulk")
@token_required
@operation(
    "Queue one SMS to many numbers",
    body=BulkSendRequest,
    responds=(202, SendAccepted, "Queued"),
    errors=(400, 401, 413, 503),
)
def send_bulk():
    """Queue one SMS to many numbers (up to 100,000; repeats are sent once)."""
    body = parse_body(BulkSendRequest)
    return queue_send(body.recipients, body.content, "recipients")


@bp.get("/sms")
@token_required
@operation(
    "List the caller's messages, newest first",
    query=(PAGE, MESSAGES_PER_PAGE),
    responds=(200, MessagePage, "A page of messages"),
    errors=(400, 401, 503),
)
def list_messages():
    """The caller's messages, newest first, a page at a time."""
    page, per_page = PAGE.read(), MESSAGES_PER_PAGE.read()
    rows, total = list_api_messages(db.session, current_api_user().id, page, per_page)
    data = MessagePage(
        messages=[
            MessageSummary(
                id=m.id,
                content=m.content,
                status=m.status,
                created_at=to_hkt(m.created_at),
                recipient_count=m.recipient_count,
                success_count=m.sent_count,
                failed_count=m.failed_count,
            )
            for m in rows
        ],
        total=total,
        pages=math.ceil(total / per_page) if total else 0,
        current_page=page,
        per_page=per_page,
    )
    return respond(data)


def owned_message(message_id: int) -> Message:
    """The caller's message, else 404: the web's rule, except that admins too see only theirs."""
    message = find_message(db.session, message_id, MessageScope.of_user(current_api_user().id))
    if message is None:
        raise ApiError(404, "NOT_FOUND", f"no message {message_id}")
    return message


@bp.get("/sms/<int:message_id>")
@token_required
@operation(
    "One message with its delivery counts",
    path=(MESSAGE_ID,),
    responds=(200, MessageDetail, "The message"),
    errors=(401, 404, 503),
)
def get_message(message_id: int):
    """One message with its delivery counts (kept up to date, not recounted)."""
    m = owned_message(message_id)
    data = MessageDetail(
        id=m.id,
        content=m.content,
        status=m.status,
        created_at=to_hkt(m.created_at),
        sent_at=to_hkt(m.completed_at),
        recipient_count=m.recipient_count,
        success_count=m.sent_count,
        failed_count=m.failed_count,
        pending_count=m.pending_count,
        segments=m.segments,
    )
    return respond(data)


@bp.get("/sms/<int:message_id>/recipients")
@token_required
@operation(
    "Every recipient of a message and what happened to it",
    path=(MESSAGE_ID,),
    query=(PAGE, RECIPIENTS_PER_PAGE),
    responds=(200, RecipientList, "The recipients"),
    errors=(400, 401, 404, 503),
)
def get_recipients(message_id: int):
    """Every recipient of a message; pass `page` (and `per_page`, at most 1000) to page."""
    m = owned_message(message_id)
    query = select(Recipient).where(Recipient.message_id == m.id).order_by(Recipient.id)
    if "page" in request.args or "per_page" in request.args:
        page, per_page = PAGE.read(), RECIPIENTS_PER_PAGE.read()
        query = query.limit(per_page).offset((page - 1) * per_page)
    rows = db.session.scalars(query).all()
    data = RecipientList(
        recipients=[
            RecipientOut(
                id=r.id,
                phone=r.phone,
                status=r.status,
                error_message=r.error_message if r.status != "sent" else None,
                attempts=r.attempts,
                sent_at=to_hkt(r.sent_at),
            )
            for r in rows
        ],
        total=m.recipient_count,
    )
    return respond(data)

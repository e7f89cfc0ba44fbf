"""Sending and reading messages over the API; a user sees only their own and their
department's (admins too: the API has no everyone's view)."""

from __future__ import annotations

import math
from datetime import datetime
from functools import wraps

from flask import current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from smspanel.api.auth import current_api_user, sender_token_required, token_required
from smspanel.api.blueprint import bp
from smspanel.api.idempotency import IDEMPOTENCY_KEY, idempotent
from smspanel.api.operations import PathId, QueryInt, operation
from smspanel.api.schemas import (
    BulkSendRequest,
    CancelResult,
    MessageDetail,
    MessagePage,
    MessageSummary,
    NumberWarning,
    RecipientList,
    RecipientOut,
    RepeatedRow,
    SendAccepted,
    SendRequest,
    SkippedNumber,
    TemplateSendRequest,
    parse_body,
    respond,
)
from smspanel.errors import ApiError
from smspanel.hktime import format_hkt, to_hkt
from smspanel.models import Message, MessageStatus, Recipient, db, utcnow
from smspanel.services.api_listing import list_api_messages
from smspanel.services.cancelling import NotCancellable, cancel_message
from smspanel.services.content import InvalidContent
from smspanel.services.departments import check_may_cancel
from smspanel.services.eligibility import (
    NoDeliverableRecipients,
    SendPolicy,
    describe,
    unknown_warning,
)
from smspanel.services.message_views import message_view, recipient_view
from smspanel.services.ownership import MessageScope, find_message
from smspanel.services.personalisation import RowProblem, check_rows
from smspanel.services.phone import InvalidRecipients, NoRecipients
from smspanel.services.quotas import QuotaExceeded
from smspanel.services.scheduling import InvalidSchedule, parse_scheduled_at
from smspanel.services.sending import (
    AcceptedSend,
    TooManyRecipients,
    accept_personalised_send,
    accept_send,
)
from smspanel.services.templates import find_template

MAX_PAGE = 1_000_000
PAGE = QueryInt("page", default=1, maximum=MAX_PAGE)
MESSAGES_PER_PAGE = QueryInt("per_page", default=20, cap=100)
RECIPIENTS_PER_PAGE = QueryInt("per_page", default=100, cap=1000)
MESSAGE_ID = PathId("message_id")


def read_schedule(value: str | None) -> datetime | None:
    try:
        return parse_scheduled_at(value, utcnow())
    except InvalidSchedule as exc:
        raise ApiError(
            400, "VALIDATION_ERROR", str(exc), [{"field": "scheduled_at", "message": str(exc)}]
        ) from None


def send_policy() -> SendPolicy:
    return SendPolicy.from_settings(current_app.config)


def accepted_answer(
    message: AcceptedSend, repeated: list[RepeatedRow] | None = None, repeated_count: int = 0
):
    checked = message.eligibility
    warning = unknown_warning()
    accepted = SendAccepted(
        id=message.id,
        status=message.status,
        recipient_count=message.recipient_count,
        segments=message.segments,
        created_at=to_hkt(message.created_at),
        scheduled_at=to_hkt(message.scheduled_at),
        skipped_count=message.skipped_count,
        commercial=message.commercial,
        priority=message.priority,  # type: ignore[arg-type]
        skipped=[
            SkippedNumber(phone=s.phone, reason=s.reason)  # type: ignore[arg-type]
            for s in (checked.skipped if checked else ())
        ],
        warnings=[
            NumberWarning(phone=phone, message=warning)
            for phone in (checked.unknown if checked else ())
        ],
        repeated=repeated or [],
    )
    note = f"queued for {message.recipient_count - message.skipped_count} recipient(s)"
    if message.status == MessageStatus.AWAITING_APPROVAL:
        note = f"awaiting approval; {note} once approved"
    if message.scheduled_at:
        note += f", scheduled for {format_hkt(message.scheduled_at)}"
    if checked and checked.skipped_count:
        note += f"; {describe(checked, done=True)}"
    if repeated_count:
        note += f"; {repeated_count} repeated number(s) sent once, from their first row"
    return respond(accepted, note, 202)


def nothing_deliverable(exc: NoDeliverableRecipients, field: str) -> ApiError:
    details = [
        {"field": field, "value": s.phone, "message": f"skipped: {s.reason}"}
        for s in exc.eligibility.skipped
    ]
    return ApiError(400, "NO_DELIVERABLE_RECIPIENTS", str(exc), details)


def quota_exceeded(exc: QuotaExceeded) -> ApiError:
    return ApiError(403, "QUOTA_EXCEEDED", str(exc), exc.figures)


def queue_send(
    recipients: list[str],
    content: str,
    field: str,
    scheduled_at: str | None,
    commercial: bool,
    priority: str,
):
    schedule = read_schedule(scheduled_at)
    try:
        message = accept_send(
            db.session,
            current_api_user().id,
            recipients,
            content,
            schedule,
            commercial=commercial,
            priority=priority,
            policy=send_policy(),
        )
    except NoDeliverableRecipients as exc:
        raise nothing_deliverable(exc, field) from None
    except QuotaExceeded as exc:
        raise quota_exceeded(exc) from None
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
    return accepted_answer(message)


@bp.post("/sms")
@sender_token_required
@idempotent
@operation(
    "Queue one SMS to one number",
    body=SendRequest,
    responds=(202, SendAccepted, "Queued"),
    errors=(400, 401, 403, 409, 413, 422, 503),
    headers=(IDEMPOTENCY_KEY,),
)
def send_one():
    """Queue one SMS to one number."""
    body = parse_body(SendRequest)
    return queue_send(
        [body.recipient],
        body.content,
        "recipient",
        body.scheduled_at,
        body.commercial,
        body.priority,
    )


@bp.post("/sms/send-bulk")
@sender_token_required
@idempotent
@operation(
    "Queue one SMS to many numbers",
    body=BulkSendRequest,
    responds=(202, SendAccepted, "Queued"),
    errors=(400, 401, 403, 409, 413, 422, 503),
    headers=(IDEMPOTENCY_KEY,),
)
def send_bulk():
    """Queue one SMS to many numbers (up to 100,000; repeats are sent once)."""
    body = parse_body(BulkSendRequest)
    return queue_send(
        body.recipients,
        body.content,
        "recipients",
        body.scheduled_at,
        body.commercial,
        body.priority,
    )


def accepts_file_sized_body(view):
    """A personalised send is a file's worth of rows (UPLOAD_MAX_BYTES, not the page limit);
    set before anything reads the body."""

    @wraps(view)
    def with_file_limit(*args, **kwargs):
        request.max_content_length = current_app.config["UPLOAD_MAX_BYTES"]
        return view(*args, **kwargs)

    return with_file_limit


# Which refusal a personalised send gets: the first kind its rows have, in this order.
_ROW_REFUSALS = (
    ("missing_value", "MISSING_PERSONALISATION"),
    ("invalid_phone", "INVALID_RECIPIENTS"),
    ("too_long", "VALIDATION_ERROR"),
    ("invalid_text", "VALIDATION_ERROR"),
)


def row_field(problem: RowProblem) -> str:
    index = f"recipients[{problem.row - 1}]"
    if problem.kind == "invalid_phone":
        return f"{index}.phone"
    if problem.kind == "missing_value":
        return f"{index}.personalisation.{problem.column}"
    return index


@bp.post("/sms/send-template")
@sender_token_required
@accepts_file_sized_body
@idempotent
@operation(
    "Queue a template, personalised for each recipient",
    body=TemplateSendRequest,
    responds=(202, SendAccepted, "Queued"),
    errors=(400, 401, 403, 404, 409, 413, 422, 503),
    headers=(IDEMPOTENCY_KEY,),
)
def send_template():
    """Queue a template to many numbers, each with its own values for the placeholders.

    Each text is rendered now and kept with its recipient; `segments` is the total. A
    missing or blank value refuses the whole send (`MISSING_PERSONALISATION`, every row and
    placeholder in `details`); values the template does not use are ignored; a number
    repeated keeps its first row.
    """
    body = parse_body(TemplateSendRequest)
    schedule = read_schedule(body.scheduled_at)
    template = find_template(db.session, body.template_id)
    if template is None:
        raise ApiError(404, "NOT_FOUND", f"no template {body.template_id}")
    policy = send_policy()
    check = check_rows(
        template.content,
        (
            (i, r["phone"], r.get("personalisation", {}))
            for i, r in enumerate(body.recipients, start=1)
        ),
        statement=policy.unsubscribe_text if body.commercial else "",
    )
    if check.problems:
        kinds = {p.kind for p in check.problems}
        code = next(code for kind, code in _ROW_REFUSALS if kind in kinds)
        details = [
            {
                "field": row_field(p),
                "message": f"row {p.row}: {p.message}",
                "value": p.value or None,
            }
            for p in check.problems[:1000]
        ]
        raise ApiError(
            400,
            code,
            f"{check.rows_with_problems} of {len(body.recipients)} recipients cannot be sent; "
            + "; ".join(d["message"] for d in details[:5]),
            details,
        )
    try:
        message = accept_personalised_send(
            db.session,
            current_api_user().id,
            template.id,
            template.content,
            check.rows,
            schedule,
            commercial=body.commercial,
            priority=body.priority,
            policy=policy,
        )
    except NoDeliverableRecipients as exc:
        raise nothing_deliverable(exc, "recipients") from None
    except QuotaExceeded as exc:
        raise quota_exceeded(exc) from None
    except (InvalidContent, TooManyRecipients) as exc:
        raise ApiError(400, "VALIDATION_ERROR", str(exc)) from None
    except IntegrityError:
        # Deleted between the check and the send: the foreign key refused the message.
        if find_template(db.session, body.template_id) is not None:
            raise
        raise ApiError(404, "NOT_FOUND", f"template {body.template_id} was just deleted") from None
    repeated = [
        RepeatedRow(row=r.row, phone=r.phone, first_row=r.first_row) for r in check.repeated[:100]
    ]
    return accepted_answer(message, repeated, len(check.repeated))


@bp.post("/sms/<int:message_id>/cancel")
@sender_token_required
@operation(
    "Cancel a scheduled message, or stop one being sent",
    path=(MESSAGE_ID,),
    responds=(200, CancelResult, "Cancelled"),
    errors=(401, 403, 404, 409, 503),
)
def cancel(message_id: int):
    """A scheduled message is cancelled whole; one being sent stops, and its recipients not
    yet handed to the gateway become `cancelled`. 409 `NOT_CANCELLABLE` once it is final.
    A department colleague's message only its sender, an approver of the department or an
    admin may cancel (else 403 `FORBIDDEN`); a viewer never."""
    m = owned_message(message_id)
    check_may_cancel(m, current_api_user())
    try:
        result = cancel_message(db.session, m.id)
    except NotCancellable as exc:
        raise ApiError(409, "NOT_CANCELLABLE", str(exc)) from None
    data = CancelResult(id=result.id, status=result.status, cancelled_count=result.cancelled_count)
    return respond(data, f"{result.cancelled_count} recipient(s) cancelled")


@bp.get("/sms")
@token_required
@operation(
    "List the caller's messages and their department's, newest first",
    query=(PAGE, MESSAGES_PER_PAGE),
    responds=(200, MessagePage, "A page of messages"),
    errors=(400, 401, 503),
)
def list_messages():
    """The caller's messages and their department's, newest first, a page at a time."""
    page, per_page = PAGE.read(), MESSAGES_PER_PAGE.read()
    caller = current_api_user()
    rows, total = list_api_messages(db.session, caller.id, page, per_page, caller.department_id)
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
                skipped_count=m.skipped_count,
                cancelled_count=m.cancelled_count,
                scheduled_at=to_hkt(m.scheduled_at),
                priority=m.priority,  # type: ignore[arg-type]
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
    """The caller's message or their department's, else 404: the web's rule, except that
    admins too see only theirs."""
    caller = current_api_user()
    scope = MessageScope.of_user(caller.id, caller.department_id)
    message = find_message(db.session, message_id, scope)
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
    return respond(message_detail(owned_message(message_id)))


def message_detail(m: Message) -> MessageDetail:
    """A message as GET /api/sms/<id> answers it (and webhook events carry it)."""
    return MessageDetail(**message_view(m))


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
        recipients=[RecipientOut(**recipient_view(r)) for r in rows],
        total=m.recipient_count,
    )
    return respond(data)

"""Maker-checker over the API: approvers and admins approve or reject a waiting send
(services/approvals.py holds the rules)."""

from __future__ import annotations

from collections.abc import Callable

from smspanel.api.auth import current_api_user, token_required
from smspanel.api.blueprint import bp
from smspanel.api.operations import PathId, operation
from smspanel.api.schemas import MessageDetail, RejectRequest, parse_body, respond
from smspanel.api.sms import message_detail
from smspanel.errors import ApiError
from smspanel.models import Message, db
from smspanel.services import approvals

MESSAGE_ID = PathId("message_id")


def decided(decide: Callable[[], approvals.Decision], message_id: int, done: str):
    """Run a decision; answer with the message as GET /api/sms/<id> does."""
    try:
        decide()
    except (approvals.NotAnApprover, approvals.OwnSend) as exc:
        raise ApiError(403, "FORBIDDEN", str(exc)) from None
    except approvals.WaitingSendNotFound:
        raise ApiError(404, "NOT_FOUND", f"no message {message_id}") from None
    except approvals.NotAwaitingApproval as exc:
        raise ApiError(409, "NOT_AWAITING_APPROVAL", str(exc)) from None
    message = db.session.get(Message, message_id, populate_existing=True)
    assert message is not None
    return respond(message_detail(message), done)


@bp.post("/sms/<int:message_id>/approve")
@token_required
@operation(
    "Approve a send that awaits approval",
    path=(MESSAGE_ID,),
    responds=(200, MessageDetail, "Approved: scheduled for its time, or queued now"),
    errors=(401, 403, 404, 409, 503),
)
def approve(message_id: int):
    """For approvers (their department's sends) and admins (any); never the send's maker
    (403 `FORBIDDEN`). It becomes `scheduled` if its `scheduled_at` is still ahead, else
    `pending` and is sent now (late, if its time has passed). 409 `NOT_AWAITING_APPROVAL`
    once decided, also when another approver decided a moment before."""
    return decided(
        lambda: approvals.approve(db.session, message_id, current_api_user().id),
        message_id,
        "approved",
    )


@bp.post("/sms/<int:message_id>/reject")
@token_required
@operation(
    "Reject a send that awaits approval, with the reason",
    path=(MESSAGE_ID,),
    body=RejectRequest,
    responds=(200, MessageDetail, "Rejected: nothing is sent"),
    errors=(400, 401, 403, 404, 409, 413, 503),
)
def reject(message_id: int):
    """The message becomes `rejected` (final) and its recipients `cancelled`; the reason
    (required, at most 500 characters) is kept as `rejection_reason`. Who may: as approve."""
    if not approvals.may_approve(current_api_user()):  # who, before what: a viewer gets 403
        raise ApiError(403, "FORBIDDEN", str(approvals.NotAnApprover()))
    body = parse_body(RejectRequest)
    try:
        reason = approvals.clean_reason(body.reason)
    except approvals.InvalidReason as exc:
        raise ApiError(
            400, "VALIDATION_ERROR", f"reason: {exc}", [{"field": "reason", "message": str(exc)}]
        ) from None
    return decided(
        lambda: approvals.reject(db.session, message_id, current_api_user().id, reason),
        message_id,
        "rejected",
    )

"""The opt-out register over the API (UEMO s.9-10). Administrators' tokens only: the
register decides who gets no messages at all, as the admin page /admin/opt-outs does."""

from __future__ import annotations

from smspanel.api.auth import current_api_user, token_required
from smspanel.api.blueprint import bp
from smspanel.api.operations import PathText, QueryInt, QueryText, operation
from smspanel.api.schemas import (
    OptOutAdded,
    OptOutAddRequest,
    OptOutList,
    OptOutOut,
    OptOutRemoved,
    OptOutRemoveRequest,
    parse_body,
    respond,
)
from smspanel.errors import ApiError
from smspanel.hktime import HKT
from smspanel.models import db
from smspanel.services import opt_outs
from smspanel.services.opt_outs import NotOnRegister, OptOutRefused

PAGE = QueryInt("page", default=1, maximum=1_000_000)
PER_PAGE = QueryInt("per_page", default=50, cap=500)
SEARCH = QueryText("search", 64, "digits anywhere in the number, or one whole number")
PHONE = PathText("phone", 32, "the number, in any accepted form (8 digits, +852, a space)")


def admins_only() -> None:
    if not current_api_user().is_admin:
        raise ApiError(403, "FORBIDDEN", "only administrators may manage the opt-out register")


def refusal(exc: OptOutRefused) -> ApiError:
    """400 VALIDATION_ERROR naming each bad entry (`phones[i]`, 0-based) and field."""
    details: list[dict[str, object]] = [
        {
            "field": f"phones[{entry.position - 1}]",
            "value": entry.value,
            "message": "not a Hong Kong number (8 digits, optionally with +852)",
        }
        for entry in exc.invalid
    ]
    for field, messages in exc.errors.items():
        if field == "phones" and exc.invalid:
            continue
        details += [{"field": field, "message": message} for message in messages]
    return ApiError(400, "VALIDATION_ERROR", str(exc), details)


@bp.get("/opt-outs")
@token_required
@operation(
    "List the opt-out register",
    query=(PAGE, PER_PAGE, SEARCH),
    responds=(200, OptOutList, "A page of the register, newest first"),
    errors=(400, 401, 403, 503),
)
def list_opt_outs():
    """Numbers whose owners asked for no more messages: every send skips them."""
    admins_only()
    page = opt_outs.list_opt_outs(db.session, SEARCH.read(), PAGE.read(), PER_PAGE.read())
    items = [
        OptOutOut(
            phone=entry.phone,
            reason=entry.reason,
            source=entry.source,  # type: ignore[arg-type]
            created_at=entry.created_at.astimezone(HKT),
        )
        for entry in page.items
    ]
    return respond(OptOutList(opt_outs=items, total=page.total), f"{page.total} number(s)")


@bp.post("/opt-outs")
@token_required
@operation(
    "Add numbers to the opt-out register",
    body=OptOutAddRequest,
    responds=(201, OptOutAdded, "Added; numbers already there are listed apart"),
    errors=(400, 401, 403, 413, 503),
)
def add_opt_outs():
    """All or nothing: if any entry is not a Hong Kong number, none is added and `details`
    names each (`phones[i]`). Each addition is recorded with the token's user and address."""
    admins_only()
    body = parse_body(OptOutAddRequest)
    try:
        result = opt_outs.add_numbers(db.session, body.phones, body.reason or "", source="api")
    except OptOutRefused as exc:
        raise refusal(exc) from None
    data = OptOutAdded(added=result.added, already=result.already)
    return respond(data, f"{len(result.added)} added, {len(result.already)} already there", 201)


@bp.delete("/opt-outs/<phone>")
@token_required
@operation(
    "Remove one number from the opt-out register",
    path=(PHONE,),
    body=OptOutRemoveRequest,
    responds=(200, OptOutRemoved, "Removed; its record is kept"),
    errors=(400, 401, 403, 404, 413, 503),
)
def remove_opt_out(phone: str):
    """Only with a `reason` (consent given again). The number's history is kept for at
    least 3 years: a removal is a new record, never a delete."""
    admins_only()
    body = parse_body(OptOutRemoveRequest, empty_is_object=True)
    try:
        removed = opt_outs.remove_number(db.session, phone, body.reason, source="api")
    except OptOutRefused as exc:
        raise refusal(exc) from None
    except NotOnRegister as exc:
        raise ApiError(404, "NOT_FOUND", str(exc)) from None
    return respond(OptOutRemoved(phone=removed, reason=body.reason.strip()), "removed")

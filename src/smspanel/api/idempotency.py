"""The `Idempotency-Key` header on the send calls (rules in services/idempotency.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, current_app, make_response, request

from smspanel.api.auth import current_api_user
from smspanel.api.operations import HeaderText
from smspanel.errors import ApiError
from smspanel.models import db
from smspanel.services import idempotency

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETRY_AFTER_SECONDS = 1
IDEMPOTENCY_KEY = HeaderText(
    HEADER,
    idempotency.MAX_KEY_LENGTH,
    "Optional. Send the same key (1-255 printable ASCII characters, e.g. a UUID) when you "
    "retry: within 24 h the first accepted answer is returned again, with "
    f"`{REPLAYED_HEADER}: true`, and nothing new is stored. The same key with a different "
    "body is 422 IDEMPOTENCY_KEY_REUSED; while its twin is still being stored, 409 "
    "IDEMPOTENCY_IN_PROGRESS with `Retry-After`. Refused sends are not remembered.",
    answer_headers={
        REPLAYED_HEADER: "`true` when this is the stored answer to an earlier request with "
        "the same key"
    },
)


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answer a repeated key from the store; otherwise run the send and store its answer."""

    @wraps(view)
    def answered_once(*args: Any, **kwargs: Any) -> Any:
        raw = request.headers.get(HEADER)
        if raw is None:
            return view(*args, **kwargs)
        try:
            key = idempotency.read_key(raw)
        except idempotency.InvalidKey as exc:
            raise ApiError(
                400,
                "VALIDATION_ERROR",
                f"{HEADER} {exc}",
                [{"field": HEADER, "message": str(exc)}],
            ) from None

        def send() -> idempotency.Answer:
            response = make_response(view(*args, **kwargs))
            return idempotency.Answer(response.status_code, response.get_data(as_text=True))

        try:
            answer = idempotency.answer_once(
                db.session,
                current_api_user().id,
                key,
                idempotency.fingerprint(request.method, request.path, request.get_data()),
                send,
            )
        except idempotency.KeyReused:
            raise ApiError(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                f"this {HEADER} was used within the last 24 h for a different request; "
                "use a new key for a new send",
            ) from None
        except idempotency.KeyInProgress:
            raise ApiError(
                409,
                "IDEMPOTENCY_IN_PROGRESS",
                f"a request with this {HEADER} is still being processed; retry shortly",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from None
        reply = Response(answer.body, answer.status_code, mimetype=current_app.json.mimetype)
        if answer.replayed:
            reply.headers[REPLAYED_HEADER] = "true"
        return reply

    return answered_once

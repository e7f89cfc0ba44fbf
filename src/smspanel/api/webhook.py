"""The caller's webhook over the API: set it, read it, rotate its secret, remove it, and look
through and resend its deliveries. Any token may: a webhook is the caller's own setting and
sends nothing, so viewers may keep one too (it hears of their own sends only)."""

from __future__ import annotations

from flask import current_app

from smspanel.api.auth import current_api_user, token_required
from smspanel.api.blueprint import bp
from smspanel.api.operations import PathId, QueryInt, operation
from smspanel.api.schemas import (
    WebhookDeliveryList,
    WebhookDeliveryOut,
    WebhookOut,
    WebhookRequest,
    WebhookSaved,
    parse_body,
    respond,
)
from smspanel.errors import ApiError
from smspanel.hktime import HKT, to_hkt
from smspanel.models import db
from smspanel.services.webhooks import subscriptions
from smspanel.services.webhooks.subscriptions import (
    DeliveryNotFound,
    DeliveryView,
    InvalidWebhook,
    SavedWebhook,
    WebhookNotFound,
)

PAGE = QueryInt("page", default=1, maximum=1_000_000)
PER_PAGE = QueryInt("per_page", default=subscriptions.DELIVERIES_PER_PAGE, cap=100)
DELIVERY_ID = PathId("delivery_id")


def refusal(exc: InvalidWebhook) -> ApiError:
    """400 VALIDATION_ERROR naming each bad field (`url`, `events`) and why."""
    details = [
        {"field": field, "message": message}
        for field, messages in exc.errors.items()
        for message in messages
    ]
    return ApiError(400, "VALIDATION_ERROR", str(exc), details)


def no_webhook() -> ApiError:
    return ApiError(404, "NOT_FOUND", "no webhook is set: set one with PUT /api/webhook")


def saved_out(saved: SavedWebhook) -> WebhookSaved:
    return WebhookSaved(
        url=saved.webhook.url,
        events=list(saved.webhook.events),  # type: ignore[arg-type]
        secret=saved.secret,
    )


def delivery_out(delivery: DeliveryView) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=delivery.id,
        event_id=delivery.event_id,
        type=delivery.event_type,  # type: ignore[arg-type]
        status=delivery.status,  # type: ignore[arg-type]
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at.astimezone(HKT),
        updated_at=delivery.updated_at.astimezone(HKT),
        delivered_at=to_hkt(delivery.delivered_at),
        next_attempt_at=to_hkt(delivery.next_attempt_at),
        message_id=delivery.message_id,
        recipient_count=delivery.recipient_count,
    )


@bp.get("/webhook")
@token_required
@operation(
    "The caller's webhook",
    responds=(200, WebhookOut, "Where events go and which; the secret is never shown again"),
    errors=(401, 404, 503),
)
def get_webhook():
    """404 `NOT_FOUND` while none is set."""
    webhook = subscriptions.get_webhook(db.session, current_api_user().id)
    if webhook is None:
        raise no_webhook()
    data = WebhookOut(
        url=webhook.url,
        events=list(webhook.events),  # type: ignore[arg-type]
        created_at=webhook.created_at.astimezone(HKT),
        updated_at=webhook.updated_at.astimezone(HKT),
        secret_rotated_at=webhook.secret_rotated_at.astimezone(HKT),
    )
    return respond(data)


@bp.put("/webhook")
@token_required
@operation(
    "Set the caller's webhook: its URL and events",
    body=WebhookRequest,
    responds=(200, WebhookSaved, "Saved; `secret` is given when just made, else null"),
    errors=(400, 401, 413, 503),
)
def set_webhook():
    """Creating it makes the signing secret, shown in this answer only; changing it keeps
    the secret unless `rotate_secret` is true. A host name that does not resolve yet is
    accepted and checked again before every POST."""
    body = parse_body(WebhookRequest)
    try:
        saved = subscriptions.set_webhook(
            db.session,
            current_api_user().id,
            body.url,
            body.events,
            allow_private=current_app.config["WEBHOOK_ALLOW_HTTP"],
            rotate_secret=body.rotate_secret,
        )
    except InvalidWebhook as exc:
        raise refusal(exc) from None
    return respond(saved_out(saved), "webhook created" if saved.created else "webhook saved")


@bp.delete("/webhook")
@token_required
@operation(
    "Remove the caller's webhook",
    responds=(204, None, "Removed; its pending deliveries are failed (`webhook removed`)"),
    errors=(401, 404, 503),
)
def delete_webhook():
    """Deliveries stay listed; nothing is POSTed to the URL any more."""
    try:
        subscriptions.delete_webhook(db.session, current_api_user().id)
    except WebhookNotFound:
        raise no_webhook() from None
    deleted = current_app.response_class(status=204)
    del deleted.headers["Content-Type"]  # no content, so no type either
    return deleted


@bp.post("/webhook/secret")
@token_required
@operation(
    "Rotate the caller's webhook secret",
    responds=(200, WebhookSaved, "The new secret, shown this once; the old one stops now"),
    errors=(401, 404, 503),
)
def rotate_webhook_secret():
    """Events are signed with the new secret from now on, retries of older ones included."""
    try:
        saved = subscriptions.rotate_secret(db.session, current_api_user().id)
    except WebhookNotFound:
        raise no_webhook() from None
    return respond(saved_out(saved), "secret rotated")


@bp.get("/webhook/deliveries")
@token_required
@operation(
    "The caller's webhook deliveries, newest first",
    query=(PAGE, PER_PAGE),
    responds=(200, WebhookDeliveryList, "A page of deliveries and how each went"),
    errors=(400, 401, 503),
)
def list_webhook_deliveries():
    """Each event POSTed (or still to be) and its last answer."""
    page = subscriptions.recent_deliveries(
        db.session, current_api_user().id, PER_PAGE.read(), PAGE.read()
    )
    data = WebhookDeliveryList(
        deliveries=[delivery_out(delivery) for delivery in page.items], total=page.total
    )
    return respond(data, f"{page.total} deliveries")


@bp.post("/webhook/deliveries/<int:delivery_id>/resend")
@token_required
@operation(
    "Send a webhook delivery again",
    path=(DELIVERY_ID,),
    responds=(200, WebhookDeliveryOut, "Pending again, due now, retried for 24 h"),
    errors=(401, 404, 503),
)
def resend_delivery(delivery_id: int):
    """The same event `id` and body, to the webhook's URL now; 404 for another user's
    delivery or while no webhook is set."""
    try:
        delivery = subscriptions.resend(db.session, current_api_user().id, delivery_id)
    except DeliveryNotFound:
        raise ApiError(404, "NOT_FOUND", f"no webhook delivery {delivery_id}") from None
    except WebhookNotFound:
        raise no_webhook() from None
    return respond(delivery_out(delivery), "delivery queued again")

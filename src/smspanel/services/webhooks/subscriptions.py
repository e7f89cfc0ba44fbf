"""A user's webhook: where events go, which events, and the secret that signs them; and the
deliveries the user may look through and send again.

One webhook per user (the row's key is the user). The secret is made here and shown once,
when the webhook is created or its secret rotated; changing the URL or the events keeps
it, so a receiver keeps verifying. Removing the webhook fails its pending deliveries at
once, so nothing keeps retrying to a URL nobody owns any more. Every change is audited,
never with the secret.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from smspanel.models import (
    User,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEvent,
    utcnow,
)
from smspanel.services import audit
from smspanel.services.pagination import Page, paginate
from smspanel.services.transactions import transaction
from smspanel.services.webhooks.destinations import RefusedDestination, check_destination
from smspanel.services.webhooks.retry_window import retry_until
from smspanel.services.webhooks.signing import new_secret
from smspanel.services.wording import _

EVENTS = tuple(event.value for event in WebhookEvent)
REMOVED = "webhook removed"  # last_error of the deliveries its removal failed
DELIVERIES_PER_PAGE = 50
_NAMED_AT_MOST = 10  # unknown events named one by one; more are counted
_SHOWN_CHARACTERS = 40  # of an unknown event's value, in its message


class InvalidWebhook(ValueError):
    """Everything wrong with a webhook's fields, by field name (`url`, `events`); nothing
    was stored."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(m for messages in errors.values() for m in messages))


class WebhookNotFound(LookupError):
    """The user has no webhook."""

    def __init__(self) -> None:
        super().__init__(_("No webhook is set."))


class DeliveryNotFound(LookupError):
    """No delivery of this user has this id."""

    def __init__(self, delivery_id: int) -> None:
        super().__init__(_("No webhook delivery %(id)s.", id=delivery_id))


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    events: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    secret_rotated_at: datetime


@dataclass(frozen=True)
class SavedWebhook:
    """A webhook as saved; `secret` is the new secret, given this once, or None when kept."""

    webhook: WebhookSettings
    secret: str | None
    created: bool


@dataclass(frozen=True)
class DeliveryView:
    """One delivery as its user sees it; `next_attempt_at` only while it is pending."""

    id: int
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    message_id: int | None
    recipient_count: int


def read_events(values: Iterable[object]) -> tuple[str, ...]:
    """The chosen events in their fixed order, each once; InvalidWebhook for an empty
    choice, naming every value that is not an event."""
    chosen, unknown = set(), []
    for value in values:
        text = str(value).strip()
        if text in EVENTS:
            chosen.add(text)
        elif text not in unknown:
            unknown.append(text)
    problems = [
        _(
            "“%(value)s” is not an event; choose from %(events)s.",
            value=audit.clean(text, _SHOWN_CHARACTERS),
            events=", ".join(EVENTS),
        )
        for text in unknown[:_NAMED_AT_MOST]
    ]
    if len(unknown) > _NAMED_AT_MOST:
        problems.append(
            _("and %(count)s more values that are not events", count=len(unknown) - _NAMED_AT_MOST)
        )
    if not chosen and not unknown:
        problems.append(_("Choose at least one event."))
    if problems:
        raise InvalidWebhook({"events": problems})
    return tuple(event for event in EVENTS if event in chosen)


def check_webhook(
    url: str, events: Iterable[object], allow_private: bool
) -> tuple[str, tuple[str, ...]]:
    """The URL (trimmed) and the events, or InvalidWebhook naming every problem of both.

    Resolves the URL's host now, outside any transaction: a slow name server holds no lock.
    """
    errors: dict[str, list[str]] = {}
    checked_url = ""
    try:
        checked_url = check_destination(url, allow_private).url
    except RefusedDestination as exc:
        errors["url"] = [str(exc)]
    checked_events: tuple[str, ...] = ()
    try:
        checked_events = read_events(events)
    except InvalidWebhook as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidWebhook(errors)
    return checked_url, checked_events


def _settings(webhook: Webhook) -> WebhookSettings:
    return WebhookSettings(
        url=webhook.url,
        events=tuple(event for event in EVENTS if event in webhook.events.split(",")),
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
        secret_rotated_at=webhook.secret_rotated_at,
    )


def _locked(session: Session, user_id: int) -> Webhook | None:
    """The user's webhook, after locking the user's row (on servers; SQLite: the caller
    holds the write lock). The user's row always exists, so two first saves take turns
    too, where a lock on a webhook row not yet there would hold nothing; every change
    here locks it first, then the webhook, then its deliveries."""
    owner = session.execute(select(User.id).where(User.id == user_id).with_for_update()).first()
    if owner is None:
        raise LookupError(f"no user {user_id}")
    # A locking read too: MariaDB's plain reads could see a snapshot from before the lock.
    return session.scalars(
        select(Webhook)
        .where(Webhook.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _target(user_id: int) -> str:
    return f"webhook:user:{user_id}"


def get_webhook(session: Session, user_id: int) -> WebhookSettings | None:
    webhook = session.get(Webhook, user_id)
    return _settings(webhook) if webhook is not None else None


def set_webhook(
    session: Session,
    user_id: int,
    url: str,
    events: Iterable[object],
    *,
    allow_private: bool,
    rotate_secret: bool = False,
    now: datetime | None = None,
) -> SavedWebhook:
    """Create the user's webhook (with a new secret) or change its URL and events (keeping
    the secret unless `rotate_secret`). `allow_private` is the WEBHOOK_ALLOW_HTTP setting."""
    checked_url, checked_events = check_webhook(url, events, allow_private)
    return _save(session, user_id, checked_url, checked_events, rotate_secret, now or utcnow())


def _save(
    session: Session,
    user_id: int,
    url: str,
    events: tuple[str, ...],
    rotate_secret: bool,
    now: datetime,
) -> SavedWebhook:
    with transaction(session, write=True):
        webhook = _locked(session, user_id)
        described = f"url: {url}; events: {', '.join(events)}"
        if webhook is None:
            secret: str | None = new_secret()
            webhook = Webhook(
                user_id=user_id,
                url=url,
                events=",".join(events),
                secret=secret,
                created_at=now,
                updated_at=now,
                secret_rotated_at=now,
            )
            session.add(webhook)
            audit.record(session, "webhook.create", _target(user_id), described)
            return SavedWebhook(_settings(webhook), secret, created=True)
        secret = new_secret() if rotate_secret else None
        webhook.url, webhook.events, webhook.updated_at = url, ",".join(events), now
        if secret is not None:
            webhook.secret, webhook.secret_rotated_at = secret, now
            described += "; secret rotated"
        audit.record(session, "webhook.update", _target(user_id), described)
        return SavedWebhook(_settings(webhook), secret, created=False)


def rotate_secret(session: Session, user_id: int, now: datetime | None = None) -> SavedWebhook:
    """A new secret for the user's webhook, given this once; the old one stops signing now."""
    moment = now or utcnow()
    with transaction(session, write=True):
        webhook = _locked(session, user_id)
        if webhook is None:
            raise WebhookNotFound()
        secret = new_secret()
        webhook.secret, webhook.secret_rotated_at, webhook.updated_at = secret, moment, moment
        audit.record(session, "webhook.rotate_secret", _target(user_id))
        return SavedWebhook(_settings(webhook), secret, created=False)


def delete_webhook(session: Session, user_id: int, now: datetime | None = None) -> int:
    """Remove the user's webhook and fail its pending deliveries (`last_error` "webhook
    removed"); return how many were failed."""
    moment = now or utcnow()
    with transaction(session, write=True):
        webhook = _locked(session, user_id)
        if webhook is None:
            raise WebhookNotFound()
        url = webhook.url
        session.delete(webhook)
        result = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.user_id == user_id,
                WebhookDelivery.status == WebhookDeliveryStatus.PENDING,
            )
            .values(
                status=WebhookDeliveryStatus.FAILED,
                last_error=REMOVED,
                lease_owner=None,
                lease_until=None,
                updated_at=moment,
            )
            .execution_options(synchronize_session=False)
        )
        failed = int(result.rowcount or 0)  # type: ignore[attr-defined]
        audit.record(
            session, "webhook.delete", _target(user_id), f"url: {url}; {failed} pending failed"
        )
    return failed


_DELIVERY_COLUMNS = (
    WebhookDelivery.id,
    WebhookDelivery.event_id,
    WebhookDelivery.event_type,
    WebhookDelivery.status,
    WebhookDelivery.attempts,
    WebhookDelivery.last_status_code,
    WebhookDelivery.last_error,
    WebhookDelivery.created_at,
    WebhookDelivery.updated_at,
    WebhookDelivery.delivered_at,
    WebhookDelivery.next_attempt_at,
    WebhookDelivery.message_id,
    WebhookDelivery.recipient_count,
)


def _view(row: Row[Any] | tuple[Any, ...]) -> DeliveryView:
    view = DeliveryView(*tuple(row))
    if view.status != WebhookDeliveryStatus.PENDING:
        view = replace(view, next_attempt_at=None)  # a final delivery has no next attempt
    return view


def recent_deliveries(
    session: Session, user_id: int, limit: int = DELIVERIES_PER_PAGE, page: int = 1
) -> Page[DeliveryView]:
    """The user's deliveries, newest first, `limit` a page (the payloads are not read)."""
    query = (
        select(*_DELIVERY_COLUMNS)
        .where(WebhookDelivery.user_id == user_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    )
    result = paginate(session, query, page, limit)
    return Page([_view(row) for row in result.items], result.total, result.page, result.per_page)


def find_delivery(session: Session, user_id: int, delivery_id: int) -> DeliveryView | None:
    row = session.execute(
        select(*_DELIVERY_COLUMNS).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.user_id == user_id
        )
    ).first()
    return _view(row) if row is not None else None


def resend(
    session: Session, user_id: int, delivery_id: int, now: datetime | None = None
) -> DeliveryView:
    """Send one of the user's deliveries again, now: pending with a new 24-hour retry
    window, the same event id and body (a receiver that has it already drops it)."""
    moment = now or utcnow()
    with transaction(session, write=True):
        webhook = _locked(session, user_id)
        delivery = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.user_id == user_id)
            .with_for_update()
        ).first()
        if delivery is None:
            raise DeliveryNotFound(delivery_id)
        if webhook is None:
            raise WebhookNotFound()
        if delivery.status != WebhookDeliveryStatus.PENDING:
            # A pending one may be on the wire: its lease stays, and the sender records it.
            delivery.lease_owner, delivery.lease_until = None, None
        delivery.status = WebhookDeliveryStatus.PENDING
        delivery.attempts = 0  # a fresh window starts its backoff afresh
        delivery.next_attempt_at = moment
        delivery.retry_until = retry_until(moment)
        delivery.delivered_at = None
        delivery.updated_at = moment
        audit.record(
            session,
            "webhook.resend",
            f"webhook_delivery:{delivery_id}",
            f"event {delivery.event_id} ({delivery.event_type})",
        )
    view = find_delivery(session, user_id, delivery_id)
    assert view is not None
    return view

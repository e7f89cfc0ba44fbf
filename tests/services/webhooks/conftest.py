"""Webhooks stored straight into their table: the settings pages and API have tests of their
own; these test what the outbox, packing and the sender do with a subscription."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from sqlalchemy import delete, select

from smspanel.models import User, Webhook, WebhookOutboxEntry, db

BOTH = "message.final,recipient.final"


class Subscriptions:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def subscribe(
        self, user: User, url: str = "https://hooks.example.com/sms", events: str = BOTH
    ) -> str:
        """`user`'s webhook, set or replaced; its secret."""
        secret = f"whsec_test_{user.id}"
        with self.app.app_context():
            db.session.execute(delete(Webhook).where(Webhook.user_id == user.id))
            db.session.add(Webhook(user_id=user.id, url=url, events=events, secret=secret))
            db.session.commit()
        return secret

    def remove(self, user: User) -> None:
        with self.app.app_context():
            db.session.execute(delete(Webhook).where(Webhook.user_id == user.id))
            db.session.commit()


@pytest.fixture
def hooks(app: Flask) -> Subscriptions:
    return Subscriptions(app)


def outbox() -> list[tuple[int, str, int, list[int] | None]]:
    """(user, event type, message, recipient ids) of every entry, in the order written."""
    rows = db.session.execute(
        select(
            WebhookOutboxEntry.user_id,
            WebhookOutboxEntry.event_type,
            WebhookOutboxEntry.message_id,
            WebhookOutboxEntry.recipient_ids,
        ).order_by(WebhookOutboxEntry.id)
    ).all()
    return [(u, t, m, None if ids is None else json.loads(ids)) for u, t, m, ids in rows]


def reported_recipients(message_id: int) -> list[int]:
    """Every recipient id the outbox reports final for the message, in the order written."""
    return [
        rid
        for _u, kind, mid, ids in outbox()
        if kind == "recipient.final" and mid == message_id
        for rid in ids or []
    ]


def user_ids() -> dict[str, int]:
    return dict(db.session.execute(select(User.username, User.id)).all())

"""Packing the outbox into deliveries: one event per POST, recipients batched.

The dispatcher process packs about every `PACK_INTERVAL_SECONDS`, or as soon as
`MAX_RECIPIENTS_PER_EVENT` recipients of one message wait. It claims outbox entries
(`FOR UPDATE SKIP LOCKED` on the servers, so two dispatchers never pack the same entry; on
SQLite, deleting them under the write lock, all or nothing), merges the `recipient.final`
entries of one user and message into events of at most `MAX_RECIPIENTS_PER_EVENT`
recipients, builds each event's body once (`{"id", "type", "created_at", "data"}`, with a
new uuid4 `id` that stays the event's over every retry and resend), and inserts a
`WebhookDelivery` per event as the entries go, in one transaction.
The data is read from the rows as they are now, in the API's shape (`message_views.py`).
Entries of a user whose webhook is gone, or no longer subscribes to that event, are dropped.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, insert, literal_column, select
from sqlalchemy.orm import Session

from smspanel.hktime import to_hkt
from smspanel.models import (
    Message,
    Recipient,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEvent,
    WebhookOutboxEntry,
    utcnow,
)
from smspanel.services.message_views import (
    RECIPIENT_COLUMNS,
    json_text,
    message_view,
    recipient_view,
)
from smspanel.services.transactions import locks_rows, transaction
from smspanel.services.webhooks.outbox import subscribed_events
from smspanel.services.webhooks.retry_window import retry_until

MAX_RECIPIENTS_PER_EVENT = 1000
PACK_INTERVAL_SECONDS = 1.0
ENTRIES_PER_PACK = 5000  # bounds one packing transaction; the rest waits for the next
_READ_CHUNK = 1000

_outbox = WebhookOutboxEntry.__table__
_recipient_ids = _outbox.c.recipient_ids
# How many ids an entry's JSON list holds: its commas, plus one.
_RECIPIENTS_IN_ENTRY = (
    func.length(_recipient_ids) - func.length(func.replace(_recipient_ids, ",", "")) + 1
)


def pack_due(session: Session, now: datetime | None = None) -> bool:
    """Whether a pack should run now: an entry has waited `PACK_INTERVAL_SECONDS`, or one
    message has `MAX_RECIPIENTS_PER_EVENT` recipients waiting. Reads only, no lock."""
    now = now or utcnow()
    with transaction(session):
        oldest = session.scalar(select(func.min(_outbox.c.created_at)))
        if oldest is None:
            return False
        if now - oldest >= timedelta(seconds=PACK_INTERVAL_SECONDS):
            return True
        waiting: Select[Any] = (
            select(literal_column("1"))
            .select_from(_outbox)
            .where(_outbox.c.event_type == WebhookEvent.RECIPIENT_FINAL)
            .group_by(_outbox.c.user_id, _outbox.c.message_id)
            .having(func.sum(_RECIPIENTS_IN_ENTRY) >= MAX_RECIPIENTS_PER_EVENT)
            .limit(1)
        )
        return session.scalar(waiting) is not None


class _TakenMeanwhile(Exception):
    """Another packer took some of the entries read (SQLite): this pack is rolled back."""


def pack_outbox(session: Session, limit: int = ENTRIES_PER_PACK) -> int:
    """Turn up to `limit` outbox entries into deliveries; return how many were made.

    On the servers one transaction claims the entries (other packers skip them; the locks
    are on these rows alone) and builds and stores the events. SQLite has one writer for
    the whole database, which the dispatcher needs for every claim and result: the events
    are built in a read transaction first, and the write lock is held only to store them
    and delete the entries, which must all still be there (else nothing is stored, and the
    next pack starts again).
    """
    if locks_rows(session):
        with transaction(session):
            entries = session.execute(_entries_query(limit).with_for_update(skip_locked=True)).all()
            deliveries = _events(session, entries)
            _store(session, entries, deliveries)
        return len(deliveries)
    with transaction(session):
        entries = session.execute(_entries_query(limit)).all()
        deliveries = _events(session, entries)
    try:
        with transaction(session, write=True):
            _store(session, entries, deliveries)
    except _TakenMeanwhile:
        return 0
    return len(deliveries)


def _entries_query(limit: int) -> Select[Any]:
    return (
        select(
            _outbox.c.id,
            _outbox.c.user_id,
            _outbox.c.event_type,
            _outbox.c.message_id,
            _outbox.c.recipient_ids,
        )
        .order_by(_outbox.c.id)
        .limit(limit)
    )


def _events(session: Session, entries: Sequence[Any]) -> list[dict[str, Any]]:
    """The deliveries the entries make, with their bodies."""
    if not entries:
        return []
    subscribed = _subscriptions(session, {e.user_id for e in entries})
    now = utcnow()
    recipients: dict[tuple[int, int], set[int]] = {}
    finals: dict[tuple[int, int], None] = {}  # (user, message), in order, once each
    for entry in entries:
        if entry.event_type not in subscribed.get(entry.user_id, ()):
            continue  # the webhook was removed, or no longer wants this event
        key = (entry.user_id, entry.message_id)
        if entry.event_type == WebhookEvent.RECIPIENT_FINAL:
            recipients.setdefault(key, set()).update(json.loads(entry.recipient_ids or "[]"))
        elif entry.event_type == WebhookEvent.MESSAGE_FINAL:
            finals[key] = None
    return _recipient_events(session, recipients, now) + _message_events(session, list(finals), now)


def _store(session: Session, entries: Sequence[Any], deliveries: list[dict[str, Any]]) -> None:
    """Insert the deliveries and delete the entries they came from."""
    ids = [e.id for e in entries]
    deleted = 0
    for start in range(0, len(ids), _READ_CHUNK):
        chunk = ids[start : start + _READ_CHUNK]
        deleted += session.execute(delete(_outbox).where(_outbox.c.id.in_(chunk))).rowcount  # type: ignore[attr-defined]
    if deleted != len(ids):
        raise _TakenMeanwhile()
    if deliveries:
        session.execute(insert(WebhookDelivery.__table__), deliveries)


def _subscriptions(session: Session, user_ids: set[int]) -> dict[int, set[str]]:
    rows = session.execute(
        select(Webhook.user_id, Webhook.events).where(Webhook.user_id.in_(sorted(user_ids)))
    ).all()
    return {row.user_id: subscribed_events(row.events) for row in rows}


def _recipient_events(
    session: Session, recipients: dict[tuple[int, int], set[int]], now: datetime
) -> list[dict[str, Any]]:
    """`recipient.final` events of at most MAX_RECIPIENTS_PER_EVENT recipients each, the
    recipients as the API lists them now, in id order."""
    wanted = sorted({rid for ids in recipients.values() for rid in ids})
    columns = [Recipient.__table__.c[name] for name in RECIPIENT_COLUMNS]
    rows: dict[int, Any] = {}
    for start in range(0, len(wanted), _READ_CHUNK):
        chunk = wanted[start : start + _READ_CHUNK]
        query = select(*columns).where(Recipient.__table__.c.id.in_(chunk))
        for row in session.connection().execute(query):
            rows[row.id] = row
    events = []
    for (user_id, message_id), ids in sorted(recipients.items()):
        present = [rid for rid in sorted(ids) if rid in rows]  # a deleted message's are gone
        for start in range(0, len(present), MAX_RECIPIENTS_PER_EVENT):
            batch = present[start : start + MAX_RECIPIENTS_PER_EVENT]
            data = {
                "message_id": message_id,
                "recipients": [recipient_view(rows[rid]) for rid in batch],
            }
            events.append(
                _delivery(user_id, WebhookEvent.RECIPIENT_FINAL, message_id, len(batch), data, now)
            )
    return events


def _message_events(
    session: Session, finals: Sequence[tuple[int, int]], now: datetime
) -> list[dict[str, Any]]:
    """`message.final` events, each the message as GET /api/sms/<id> shows it now."""
    if not finals:
        return []
    messages = {
        m.id: m
        for m in session.scalars(
            select(Message).where(Message.id.in_(sorted({mid for _user, mid in finals})))
        )
    }
    return [
        _delivery(user_id, WebhookEvent.MESSAGE_FINAL, mid, 0, message_view(messages[mid]), now)
        for user_id, mid in finals
        if mid in messages
    ]


def event_body(event_id: str, kind: str, created_at: datetime, data: Any) -> str:
    """The JSON text POSTed for one event, exactly as stored and signed."""
    return json_text({"id": event_id, "type": kind, "created_at": to_hkt(created_at), "data": data})


def _delivery(
    user_id: int, kind: str, message_id: int, recipient_count: int, data: Any, now: datetime
) -> dict[str, Any]:
    event_id = str(uuid.uuid4())
    return {
        "event_id": event_id,
        "user_id": user_id,
        "event_type": kind,
        "message_id": message_id,
        "recipient_count": recipient_count,
        "payload": event_body(event_id, kind, now, data),
        "status": WebhookDeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "retry_until": retry_until(now),
        "lease_owner": None,
        "lease_until": None,
        "last_status_code": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
        "delivered_at": None,
    }

"""The webhook outbox: each status change to report, written in the transaction that makes it.

Nothing is reported that did not happen (a rollback takes the entries with it) and nothing
that happened goes unreported (the commit writes them), across crashes. The places where a
status becomes final say so here while their transaction runs:

- `message_final`: a message became final (`message_status.refresh_message_status`, and a
  rejection, which sets `rejected` itself);
- `recipients_final`: these recipients became sent, failed for good, cancelled or skipped
  (results, claims, cancels); a failed attempt that will be retried is not final;
- `recipients_final_where`: a bulk UPDATE made them so (a cancel of 100,000, the skipped
  numbers of a send); their ids are read at the commit, only when someone subscribes.

Just before the commit (`_write_entries`) the owners subscribed to each event type are
known: the status refresh, which reads every message whose counts changed, reads them too
(`OWNER_WEBHOOK_EVENTS`, by the webhook's primary key); for any other message one query
joins `messages.user_id` to `webhooks` by their primary keys. Entries are written only for
subscribers, a recipient entry holding at most `MAX_RECIPIENTS_PER_ENTRY` ids as a JSON
list. With nobody subscribed, a transaction pays a subquery and nothing else. The
dispatcher packs the entries into deliveries (`packing.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, event, insert, select
from sqlalchemy.orm import Session, SessionTransaction

from smspanel.models import (
    Message,
    Recipient,
    Webhook,
    WebhookEvent,
    WebhookOutboxEntry,
    utcnow,
)

MAX_RECIPIENTS_PER_ENTRY = 1000
_PENDING = "smspanel.webhook_outbox"


@dataclass
class _Changes:
    """What this transaction made final, until its commit writes the entries."""

    recipients: dict[int, list[int]] = field(default_factory=dict)  # message id: recipient ids
    # (message id, recipient status, updated_at or None) of rows a bulk statement made final
    selected: list[tuple[int, str, datetime | None]] = field(default_factory=list)
    messages: set[int] = field(default_factory=set)
    # message id: (owner, their webhook's events or None), where a query of the use case
    # read them already (`owners_seen`)
    owners: dict[int, tuple[int | None, str | None]] = field(default_factory=dict)

    def message_ids(self) -> set[int]:
        return {*self.recipients, *(s[0] for s in self.selected), *self.messages}


def _changes(session: Session) -> _Changes:
    changes: _Changes | None = session.info.get(_PENDING)
    if changes is None:
        changes = session.info[_PENDING] = _Changes()
    return changes


def message_final(session: Session, message_ids: Iterable[int]) -> None:
    """These messages just became final, in the session's open transaction."""
    _changes(session).messages.update(message_ids)


def recipients_final(session: Session, by_message: Mapping[int, Iterable[int]]) -> None:
    """These recipients (by message id) just reached a final status."""
    recipients = _changes(session).recipients
    for message_id, ids in by_message.items():
        recipients.setdefault(message_id, []).extend(ids)


# For a query that reads messages anyway: the events the owner's webhook subscribes to
# (NULL without one), by the webhook's primary key.
OWNER_WEBHOOK_EVENTS = (
    select(Webhook.events).where(Webhook.user_id == Message.user_id).scalar_subquery()
)


def owners_seen(session: Session, owners: Iterable[tuple[int, int | None, str | None]]) -> None:
    """(message id, owner, OWNER_WEBHOOK_EVENTS) read by the use case's own query (the
    message status refresh): the commit then needs no query of its own for them."""
    _changes(session).owners.update((mid, (user, events)) for mid, user, events in owners)


def recipients_final_where(
    session: Session, message_id: int, status: str, updated_at: datetime | None = None
) -> None:
    """A bulk statement of this transaction gave the message's recipients `status` (with
    `updated_at`; None: every recipient of the message with that status is one of them):
    their ids are read at the commit, and only if the owner subscribes."""
    _changes(session).selected.append((message_id, status, updated_at))


_messages, _webhooks = Message.__table__, Webhook.__table__
# Built once, in Core, run on the connection: it runs in every transaction that finishes a
# recipient, so what the ORM adds to a statement (half its cost here) is left out.
_OWNERS_SUBSCRIBED = (
    select(_messages.c.id, _messages.c.user_id, _webhooks.c.events)
    .select_from(_messages.join(_webhooks, _webhooks.c.user_id == _messages.c.user_id))
    .where(_messages.c.id.in_(bindparam("ids", expanding=True)))
)
_WRITE_ENTRY = insert(WebhookOutboxEntry.__table__)


def subscribed_owners(
    session: Session, message_ids: Iterable[int]
) -> dict[int, tuple[int, set[str]]]:
    """message id: (its owner, the event types the owner's webhook subscribes to), for the
    messages whose owner has a webhook: one query over both primary keys."""
    ids = sorted(set(message_ids))
    if not ids:
        return {}
    rows = session.connection().execute(_OWNERS_SUBSCRIBED, {"ids": ids}).all()
    return {row.id: (row.user_id, subscribed_events(row.events)) for row in rows}


def subscribed_events(events: str) -> set[str]:
    """The event types of a webhook's comma-separated `events`."""
    known = {e.value for e in WebhookEvent}
    return {name.strip() for name in events.split(",")} & known


@event.listens_for(Session, "before_commit")
def _write_entries(session: Session) -> None:
    changes: _Changes | None = session.info.pop(_PENDING, None)
    if changes is None:
        return
    involved = changes.message_ids()
    owners = {
        mid: (user, subscribed_events(events))
        for mid, (user, events) in changes.owners.items()
        if mid in involved and user is not None and events is not None
    }
    if not involved <= changes.owners.keys():
        owners.update(subscribed_owners(session, involved - changes.owners.keys()))
    if not owners:
        return
    now = utcnow()
    rows: list[dict[str, Any]] = []
    recipients: dict[int, set[int]] = {}
    for message_id, ids in changes.recipients.items():
        if _subscribes(owners, message_id, WebhookEvent.RECIPIENT_FINAL):
            recipients.setdefault(message_id, set()).update(ids)
    for message_id, status, updated_at in changes.selected:
        if _subscribes(owners, message_id, WebhookEvent.RECIPIENT_FINAL):
            query = select(Recipient.id).where(
                Recipient.message_id == message_id, Recipient.status == status
            )
            if updated_at is not None:
                query = query.where(Recipient.updated_at == updated_at)
            recipients.setdefault(message_id, set()).update(session.scalars(query))
    for message_id, found in sorted(recipients.items()):
        ordered = sorted(found)
        for start in range(0, len(ordered), MAX_RECIPIENTS_PER_ENTRY):
            chunk = ordered[start : start + MAX_RECIPIENTS_PER_ENTRY]
            rows.append(_entry(owners, message_id, WebhookEvent.RECIPIENT_FINAL, chunk, now))
    for message_id in sorted(changes.messages):
        if _subscribes(owners, message_id, WebhookEvent.MESSAGE_FINAL):
            rows.append(_entry(owners, message_id, WebhookEvent.MESSAGE_FINAL, None, now))
    if rows:
        session.connection().execute(_WRITE_ENTRY, rows)


@event.listens_for(Session, "after_transaction_end")
def _forget_entries(session: Session, ended: SessionTransaction) -> None:
    """Whatever ended the transaction (a rollback, a close), its changes go with it."""
    if ended.parent is None:
        session.info.pop(_PENDING, None)


def _subscribes(owners: dict[int, tuple[int, set[str]]], message_id: int, kind: str) -> bool:
    owner = owners.get(message_id)
    return owner is not None and kind in owner[1]


def _entry(
    owners: dict[int, tuple[int, set[str]]],
    message_id: int,
    kind: str,
    recipient_ids: list[int] | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "user_id": owners[message_id][0],
        "event_type": kind,
        "message_id": message_id,
        "recipient_ids": None
        if recipient_ids is None
        else json.dumps(recipient_ids, separators=(",", ":")),
        "created_at": now,
    }

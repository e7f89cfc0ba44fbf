"""The audit log: who did what, when, from where. Services say what; the web, API and CLI
layers say who (`acting_as`), so no service needs to know about requests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from sqlalchemy import event, func, insert, or_, select
from sqlalchemy.orm import Session

from smspanel.hktime import hkt_day_bounds_utc
from smspanel.models import AuditEvent, utcnow
from smspanel.services.pagination import Page, paginate


@dataclass(frozen=True)
class Actor:
    user_id: int | None = None
    username: str = ""
    channel: str = ""  # web, api or cli
    ip_address: str | None = None


NOBODY = Actor()
_current_actor: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)


def current_actor() -> Actor:
    return _current_actor.get() or NOBODY


def set_actor(actor: Actor) -> None:
    """Name who acts for the rest of this request or command."""
    _current_actor.set(actor)


class Account(Protocol):
    """A user as audit sees one: an ORM user or an API token's holder alike."""

    @property
    def id(self) -> int: ...
    @property
    def username(self) -> str: ...


def describe(user: Account) -> str:
    """How a record names the user it is about."""
    return f"user:{user.id} {user.username}"


def identify(user: Account) -> None:
    """The acting user became known (after login or token check); keep channel and address."""
    actor = current_actor()
    set_actor(Actor(user.id, user.username, actor.channel, actor.ip_address))


@contextlib.contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    reset = _current_actor.set(actor)
    try:
        yield
    finally:
        _current_actor.reset(reset)


def clean(text: str, limit: int) -> str:
    """One line, bounded: what users type never forges or floods a record."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:limit]


def record(session: Session, action: str, target: str = "", detail: str = "") -> None:
    """Add an event to the caller's transaction; it stands or falls with the caller's commit."""
    actor = current_actor()
    session.execute(
        insert(AuditEvent.__table__),
        {
            "created_at": utcnow(),
            "actor_id": actor.user_id,
            "actor_name": clean(actor.username, 64),
            "action": action,
            "target": clean(target, 120),
            "detail": clean(detail, 500),
            "channel": actor.channel,
            "ip_address": actor.ip_address,
        },
    )


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_changes(mapper, connection, target):
    raise AuditLogIsAppendOnly("audit events are never changed or deleted")


ACTIONS = (
    "login.success",
    "login.failure",
    "login.password",
    "two_factor.start",
    "two_factor.enable",
    "two_factor.failure",
    "two_factor.disable",
    "two_factor.reset",
    "user.create",
    "user.password",
    "user.enable",
    "user.disable",
    "user.delete",
    "user.department",
    "user.role",
    "department.create",
    "department.update",
    "token.issue",
    "token.revoke",
    "sms.send",
    "approval.request",
    "approval.approve",
    "approval.reject",
    "dead_letter.retry",
    "dead_letter.abandon",
    "export.recipients",
    "export.messages",
    "template.create",
    "template.update",
    "template.delete",
    "opt_out.add",
    "opt_out.remove",
    "export.opt_outs",
    "dnc.import",
    "dnc.import_failed",
    "webhook.create",
    "webhook.update",
    "webhook.rotate_secret",
    "webhook.delete",
    "webhook.resend",
)
EVENTS_PER_PAGE = 50


def list_events(
    session: Session,
    *,
    action: str = "",
    search: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    page: int = 1,
) -> Page[AuditEvent]:
    """Newest first, filtered by action, by text in the actor or target, and by HKT days."""
    query = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if action:
        query = query.where(AuditEvent.action == action)
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(
            or_(
                func.lower(AuditEvent.actor_name).like(pattern),
                func.lower(AuditEvent.target).like(pattern),
            )
        )
    if date_from:
        query = query.where(AuditEvent.created_at >= hkt_day_bounds_utc(date_from)[0])
    if date_to:
        query = query.where(AuditEvent.created_at < hkt_day_bounds_utc(date_to)[1])
    result = paginate(session, query, page, EVENTS_PER_PAGE)
    return Page([row[0] for row in result.items], result.total, result.page, result.per_page)

"""Maker-checker: a send to its department's `approval_threshold` recipients or more waits
for a second person.

Held, the message is `awaiting_approval` and its recipients are pending but due at
HELD_UNTIL, so no claim takes them and the claim query stays as it is. Approving releases
them in one statement, due at the message's `scheduled_at` if that is still ahead, else now
(a schedule that passed while it waited goes at once and shows as started late). Rejecting
cancels them and makes the message `rejected`, which is final. A decision is a conditional
UPDATE on the message's status, so of two approvers at once one wins and the other is told
it is no longer waiting.

Who decides: an approver their own department's sends, an admin any department's; never
the maker, whatever their role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from smspanel.hktime import format_hkt
from smspanel.models import (
    HELD_UNTIL,
    Message,
    MessageStatus,
    Recipient,
    RecipientStatus,
    Role,
    User,
    utcnow,
)
from smspanel.services import audit
from smspanel.services.delivery.queue_order import turn_when_due
from smspanel.services.departments import Reader, SenderStanding
from smspanel.services.doorbell import ring_after_commit
from smspanel.services.message_detail import skip_reasons
from smspanel.services.message_status import CountChange, adjust_message_counts
from smspanel.services.pagination import Page, paginate
from smspanel.services.transactions import locks_rows, transaction, with_conflict_retry
from smspanel.services.webhooks import outbox
from smspanel.services.wording import _, status_label

STALE_AFTER = timedelta(hours=24)
FIRST_ROWS = 10
MAX_REASON_CHARS = 500
WAITING_PER_PAGE = 20


class NotAnApprover(PermissionError):
    """Only approvers (of a department) and admins decide on sends."""

    def __init__(self) -> None:
        super().__init__(_("Only approvers and administrators can approve or reject sends."))


class OwnSend(PermissionError):
    """The maker of a send never decides on it."""

    def __init__(self, message_id: int) -> None:
        super().__init__(
            _(
                "You made message #%(id)s: another approver must approve or reject it.",
                id=message_id,
            )
        )


class WaitingSendNotFound(LookupError):
    """No such message within the checker's reach (another department's looks missing)."""

    def __init__(self, message_id: int) -> None:
        super().__init__(_("There is no message #%(id)s among yours to decide.", id=message_id))


class NotAwaitingApproval(ValueError):
    """Decided already (perhaps a moment ago by another approver), or cancelled."""

    def __init__(self, message_id: int, status: str | None = None) -> None:
        if status is None:
            text = _(
                "Message #%(id)s was decided or cancelled a moment ago: nothing was changed.",
                id=message_id,
            )
        else:
            text = _(
                "Message #%(id)s is not awaiting approval (it is %(status)s): nothing was changed.",
                id=message_id,
                status=status_label(status).lower(),
            )
        super().__init__(text)


class InvalidReason(ValueError):
    """A rejection needs a reason of at most MAX_REASON_CHARS characters."""


def may_approve(user: Reader) -> bool:
    """Admins, and approvers who belong to a department."""
    return bool(user.is_admin) or (user.role == Role.APPROVER and user.department_id is not None)


def _in_reach(user: Reader) -> list[Any]:
    """The SQL conditions on Message of the sends this user may see to decide."""
    return [] if user.is_admin else [Message.department_id == user.department_id]


def _not_made_by(user: Reader) -> Any:
    return or_(Message.user_id.is_(None), Message.user_id != user.id)


# --- holding a send ----------------------------------------------------------------------


def needs_approval(standing: SenderStanding, recipient_count: int) -> bool:
    """Every number given counts, skipped or not: the threshold is about the send's reach."""
    return 0 < standing.approval_threshold <= recipient_count


def held_send() -> tuple[MessageStatus, datetime]:
    """The status and the recipients' due time of a send that waits for an approver."""
    return MessageStatus.AWAITING_APPROVAL, HELD_UNTIL


def record_held(session: Session, message_id: int, standing: SenderStanding) -> None:
    """In the send's own transaction: the audit record that it waits (the maker is the actor)."""
    audit.record(
        session,
        "approval.request",
        f"message:{message_id}",
        f"awaiting approval: department:{standing.department_id}, "
        f"threshold {standing.approval_threshold} recipient(s)",
    )


# --- deciding ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    message_id: int
    status: str  # scheduled or pending once approved; rejected
    scheduled_at: datetime | None = None
    late: bool = False  # approved after its scheduled time had passed: goes now


@dataclass(frozen=True)
class _Checker:
    id: int
    username: str
    is_admin: bool
    role: str
    department_id: int | None


def _checker(session: Session, user_id: int) -> _Checker:
    """The deciding user as stored now (a role changed since login counts)."""
    row = session.execute(
        select(User.id, User.username, User.is_admin, User.role, User.department_id).where(
            User.id == user_id, User.is_active.is_(True)
        )
    ).one_or_none()
    if row is None:
        raise NotAnApprover()
    checker = _Checker(row.id, row.username, row.is_admin, row.role, row.department_id)
    if not may_approve(checker):
        raise NotAnApprover()
    return checker


@dataclass(frozen=True)
class _Waiting:
    id: int
    user_id: int | None
    maker: str | None
    scheduled_at: datetime | None
    recipient_count: int


def _waiting(session: Session, message_id: int, checker: _Checker) -> _Waiting:
    """The message as a decision needs it, locked on servers so a second decision waits here
    and then reads the first one's outcome; refused unless this checker may decide."""
    query = select(
        Message.id,
        Message.user_id,
        Message.status,
        Message.scheduled_at,
        Message.cancelled_at,
        Message.recipient_count,
    ).where(Message.id == message_id, *_in_reach(checker))
    if locks_rows(session):
        query = query.with_for_update()
    row = session.execute(query).one_or_none()
    if row is None:
        raise WaitingSendNotFound(message_id)
    if row.user_id is not None and row.user_id == checker.id:
        raise OwnSend(message_id)
    if row.status != MessageStatus.AWAITING_APPROVAL or row.cancelled_at is not None:
        raise NotAwaitingApproval(message_id, row.status)
    maker = None
    if row.user_id is not None:
        maker = session.scalar(select(User.username).where(User.id == row.user_id))
    return _Waiting(row.id, row.user_id, maker, row.scheduled_at, row.recipient_count)


def _decide(session: Session, message_id: int, values: dict[str, Any]) -> None:
    """The decision itself, only while the message still waits: whatever the isolation
    level, of two decisions one changes the row and the other finds it changed."""
    won = session.execute(
        update(Message)
        .where(
            Message.id == message_id,
            Message.status == MessageStatus.AWAITING_APPROVAL,
            Message.cancelled_at.is_(None),
        )
        .values(**values),
        execution_options={"synchronize_session": False},
    ).rowcount  # type: ignore[attr-defined]
    if not won:
        raise NotAwaitingApproval(message_id)


def _made_by(row: _Waiting) -> str:
    return f"made by user:{row.user_id} {row.maker}" if row.user_id else "made by (deleted user)"


def approve(session: Session, message_id: int, checker_id: int) -> Decision:
    """Release the send: scheduled for its time if still ahead, else queued now."""
    return with_conflict_retry(session, lambda: _approve(session, message_id, checker_id))


def _approve(session: Session, message_id: int, checker_id: int) -> Decision:
    with transaction(session, write=True):
        checker = _checker(session, checker_id)
        row = _waiting(session, message_id, checker)
        now = utcnow()
        due = row.scheduled_at if row.scheduled_at is not None and row.scheduled_at > now else now
        ahead = due > now
        status = MessageStatus.SCHEDULED if ahead else MessageStatus.PENDING
        values: dict[str, Any] = {
            "status": status,
            "decided_by_id": checker.id,
            "decided_by_name": checker.username,
            "decided_at": now,
        }
        if row.scheduled_at is not None and not ahead:
            # Released after its time: it starts now, which the message's page shows as late
            # (the claim stamps started_at only on a message still `scheduled`).
            values["started_at"] = now
        _decide(session, message_id, values)
        session.execute(
            update(Recipient)
            .where(Recipient.message_id == message_id, Recipient.status == RecipientStatus.PENDING)
            # Its turns move to its due second, so claims bring it forward in fair order.
            .values(next_attempt_at=due, turn=turn_when_due(due), updated_at=now),
            execution_options={"synchronize_session": False},
        )
        if ahead:
            when = f"scheduled for {format_hkt(row.scheduled_at)}"
        elif row.scheduled_at is not None:
            when = f"queued now, late: it was scheduled for {format_hkt(row.scheduled_at)}"
        else:
            when = "queued now"
        audit.record(
            session,
            "approval.approve",
            f"message:{message_id}",
            f"{_made_by(row)}; {row.recipient_count} recipient(s); {when}",
        )
        if not ahead:
            ring_after_commit(session)
    return Decision(
        message_id, status, row.scheduled_at, late=row.scheduled_at is not None and not ahead
    )


def clean_reason(reason: str | None) -> str:
    """The reason as stored: trimmed, required, at most MAX_REASON_CHARS characters."""
    text = (reason or "").strip()
    if not text:
        raise InvalidReason(_("give the reason for rejecting the send"))
    if len(text) > MAX_REASON_CHARS:
        raise InvalidReason(_("the reason is at most %(num)s characters", num=MAX_REASON_CHARS))
    return text


def reject(session: Session, message_id: int, checker_id: int, reason: str | None) -> Decision:
    """Refuse the send for good: `rejected`, every recipient still pending `cancelled`."""
    text = clean_reason(reason)  # bad input changes nothing
    return with_conflict_retry(session, lambda: _reject(session, message_id, checker_id, text))


def _reject(session: Session, message_id: int, checker_id: int, reason: str) -> Decision:
    with transaction(session, write=True):
        checker = _checker(session, checker_id)
        row = _waiting(session, message_id, checker)
        now = utcnow()
        _decide(
            session,
            message_id,
            {
                "status": MessageStatus.REJECTED,
                "decided_by_id": checker.id,
                "decided_by_name": checker.username,
                "decided_at": now,
                "rejection_reason": reason,
                "completed_at": now,
            },
        )
        stopped: int = session.execute(
            update(Recipient)
            .where(Recipient.message_id == message_id, Recipient.status == RecipientStatus.PENDING)
            .values(status=RecipientStatus.CANCELLED, updated_at=now),
            execution_options={"synchronize_session": False},
        ).rowcount  # type: ignore[attr-defined]
        if stopped:
            adjust_message_counts(session, {message_id: CountChange(cancelled=stopped)}, now)
            outbox.recipients_final_where(session, message_id, RecipientStatus.CANCELLED, now)
        # Final by the decision itself: message_status keeps `rejected`, so it reports nothing.
        outbox.message_final(session, [message_id])
        audit.record(
            session,
            "approval.reject",
            f"message:{message_id}",
            f"{_made_by(row)}; {row.recipient_count} recipient(s); reason: {reason}",
        )
    return Decision(message_id, MessageStatus.REJECTED, row.scheduled_at)


# --- what approvers see ------------------------------------------------------------------


@dataclass(frozen=True)
class FirstRow:
    phone: str
    status: str
    skip_reason: str | None
    content: str | None  # a personalised send's own text


@dataclass(frozen=True)
class WaitingSend:
    """One send on the approvals page, with what an approver needs to judge it."""

    message: Message
    maker: str | None  # None once the maker's account is deleted
    first_rows: list[FirstRow]
    skip_reasons: dict[str, int]
    stale: bool  # waiting longer than STALE_AFTER
    own: bool  # made by the reader, who cannot decide on it

    @property
    def total_segments(self) -> int:
        """SMS the send would take: per recipient sent, or a personalised send's total."""
        if self.message.personalised:
            return self.message.segments
        sent = self.message.recipient_count - self.message.skipped_count
        return self.message.segments * sent


def list_waiting(
    session: Session,
    user: Reader,
    page: int = 1,
    now: datetime | None = None,
    per_page: int = WAITING_PER_PAGE,
) -> Page[WaitingSend]:
    """The sends waiting within the user's reach, longest waiting first. The caller has
    checked `may_approve`."""
    now = now or utcnow()
    query = (
        select(Message, User.username)
        .outerjoin(User, User.id == Message.user_id)
        .where(Message.status == MessageStatus.AWAITING_APPROVAL, *_in_reach(user))
        .order_by(Message.created_at, Message.id)
    )
    rows = paginate(session, query, page, per_page)
    items = [
        WaitingSend(
            message=message,
            maker=maker,
            first_rows=first_rows(session, message.id),
            skip_reasons=skip_reasons(session, message.id) if message.skipped_count else {},
            stale=now - message.created_at > STALE_AFTER,
            own=message.user_id is not None and message.user_id == user.id,
        )
        for message, maker in rows.items
    ]
    return Page(items, rows.total, rows.page, rows.per_page)


def first_rows(session: Session, message_id: int, limit: int = FIRST_ROWS) -> list[FirstRow]:
    """The message's first recipients as stored: those to send in the order given, then the
    skipped."""
    return [
        FirstRow(r.phone, r.status, r.skip_reason, r.content)
        for r in session.execute(
            select(Recipient.phone, Recipient.status, Recipient.skip_reason, Recipient.content)
            .where(Recipient.message_id == message_id)
            .order_by(Recipient.id)
            .limit(limit)
        )
    ]


def waiting_count(session: Session, user: Reader) -> int:
    """How many sends wait for this user's decision (not their own): the navigation's badge,
    one COUNT over the status index."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.status == MessageStatus.AWAITING_APPROVAL,
                Message.cancelled_at.is_(None),
                _not_made_by(user),
                *_in_reach(user),
            )
        )
        or 0
    )

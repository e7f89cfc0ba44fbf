"""Accepting a send: validate everything, then write the message and its recipients at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from smspanel.hktime import format_hkt
from smspanel.models import (
    Message,
    MessageStatus,
    MessageTally,
    Priority,
    Recipient,
    RecipientStatus,
    utcnow,
)
from smspanel.services import approvals, audit, quotas, telemetry
from smspanel.services.bulk_rows import insert_rows
from smspanel.services.commercial import commercial_content, too_long_message, with_statement
from smspanel.services.content import (
    MAX_CONTENT_LENGTH,
    InvalidContent,
    count_segments,
    validate_content,
)
from smspanel.services.delivery.queue_order import first_turn, lane_of
from smspanel.services.departments import NotAllowedToSend, sender_standing
from smspanel.services.doorbell import ring_after_commit
from smspanel.services.eligibility import (
    Eligibility,
    NoDeliverableRecipients,
    SendPolicy,
    class_reasons,
    registered_numbers,
    summarise,
)
from smspanel.services.personalisation import PersonalisedRow
from smspanel.services.phone import NoRecipients, parse_recipients
from smspanel.services.transactions import transaction
from smspanel.services.webhooks import outbox
from smspanel.services.wording import _

MAX_RECIPIENTS_PER_SEND = 100_000
DEFAULT_POLICY = SendPolicy()


_tallies = MessageTally.__table__
# Built once, in Core like the inserts: one more message for the sender's tally.
_COUNT_ONE_MORE = (
    update(_tallies)
    .where(_tallies.c.user_id == bindparam("sender"))
    .values(message_count=_tallies.c.message_count + 1)
)


class TooManyRecipients(ValueError):
    pass


@dataclass(frozen=True)
class AcceptedSend:
    """What the caller tells the sender: the new message as it was queued, and what its
    numbers' checks skipped or warned about (`eligibility.py`)."""

    id: int
    status: str
    recipient_count: int
    segments: int
    created_at: datetime
    scheduled_at: datetime | None = None
    commercial: bool = False
    eligibility: Eligibility | None = None
    priority: str = Priority.NORMAL

    @property
    def skipped_count(self) -> int:
        return self.eligibility.skipped_count if self.eligibility else 0


def accept_send(
    session: Session,
    user_id: int | None,
    recipients: Sequence[str],
    content: str,
    scheduled_at: datetime | None = None,
    *,
    commercial: bool = False,
    priority: str = Priority.NORMAL,
    policy: SendPolicy = DEFAULT_POLICY,
) -> AcceptedSend:
    """Queue one message for every distinct number; refuse the whole send on any bad input.

    A commercial send carries the unsubscribe statement; numbers the rules skip are stored
    as skipped, and a send with none left is refused (NoDeliverableRecipients)."""
    content = validate_content(content)
    if commercial:
        content = commercial_content(content, policy.unsubscribe_text)
    _check_size(len(recipients))
    phones = parse_recipients(recipients)
    return _store(
        session,
        user_id,
        content,
        phones,
        None,
        segments=count_segments(content),
        scheduled_at=scheduled_at,
        commercial=commercial,
        priority=priority,
        policy=policy,
    )


def accept_personalised_send(
    session: Session,
    user_id: int | None,
    template_id: int,
    template_content: str,
    rows: Sequence[PersonalisedRow],
    scheduled_at: datetime | None = None,
    source_digest: str | None = None,
    *,
    commercial: bool = False,
    priority: str = Priority.NORMAL,
    policy: SendPolicy = DEFAULT_POLICY,
) -> AcceptedSend:
    """Queue rows already checked by `personalisation.check_rows`, each with its own text.

    The message keeps the template's text; its `segments` is the total over the rows that
    are sent. A commercial send's rows each carry the unsubscribe statement (check_rows
    adds it when given the statement, so a row it makes too long is named there).
    """
    if not rows:
        raise NoRecipients("no row is left to send to")
    _check_size(len(rows))
    if commercial:
        rows = [commercial_row(row, policy.unsubscribe_text) for row in rows]
    return _store(
        session,
        user_id,
        template_content,
        [row.phone for row in rows],
        [row.text for row in rows],
        segments=[row.segments for row in rows],
        scheduled_at=scheduled_at,
        personalised=True,
        template_id=template_id,
        source_digest=source_digest,
        commercial=commercial,
        priority=priority,
        policy=policy,
    )


def commercial_row(row: PersonalisedRow, statement: str) -> PersonalisedRow:
    """The row as a commercial send sends it; InvalidContent when the statement makes it
    too long. The file check page counts with it too."""
    text = with_statement(row.text, statement)
    if text is row.text:
        return row
    if len(text) > MAX_CONTENT_LENGTH:
        raise InvalidContent(
            _("row %(row)s: ", row=row.row) + too_long_message(len(text), len(statement))
        )
    return replace(row, text=text, segments=count_segments(text))


def _check_size(count: int) -> None:
    if count > MAX_RECIPIENTS_PER_SEND:
        raise TooManyRecipients(f"{count} recipients; at most {MAX_RECIPIENTS_PER_SEND} per send")


def _store(
    session: Session,
    user_id: int | None,
    content: str,
    phones: Sequence[str],
    texts: Sequence[str] | None,
    *,
    segments: int | Sequence[int],
    scheduled_at: datetime | None,
    personalised: bool = False,
    template_id: int | None = None,
    source_digest: str | None = None,
    commercial: bool = False,
    priority: str = Priority.NORMAL,
    policy: SendPolicy = DEFAULT_POLICY,
) -> AcceptedSend:
    """One short transaction, set-based: the registers are asked for the send's numbers in
    one statement each, the recipients go in as multi-row inserts (those to send, then the
    skipped with their reasons), the sender's message tally goes up by one with them, and
    the request never waits on the gateway. A scheduled message's recipients come due at
    its time. `segments` is per SMS, or per row of a personalised send (the message counts
    those that are sent)."""
    by_class, unknown = class_reasons(phones, policy)
    if len(by_class) == len(phones):  # nothing to ask the database
        raise NoDeliverableRecipients(summarise(phones, by_class, {}, unknown))
    now = utcnow()
    status = MessageStatus.SCHEDULED if scheduled_at else MessageStatus.PENDING
    due = scheduled_at or now
    with transaction(session):
        standing = sender_standing(session, user_id)
        if not standing.may_send:
            raise NotAllowedToSend()
        held = approvals.needs_approval(standing, len(phones))
        if held:  # maker-checker: stored, but nothing is due until an approver decides
            status, due = approvals.held_send()
        by_register = registered_numbers(session, phones, commercial)
        eligibility = summarise(phones, by_class, by_register, unknown)
        if eligibility.deliverable_count == 0:
            raise NoDeliverableRecipients(eligibility)
        skipped = {**by_class, **by_register}  # a register's reason wins over the class's
        message_segments = _sent_segments(segments, phones, skipped)
        charged = quotas.segments_needed(
            message_segments, eligibility.deliverable_count, personalised=personalised
        )
        quotas.check(session, standing, charged, now)
        # Core inserts, not the unit of work: a single SMS is the API's hottest path, and
        # nothing here needs identity tracking or a reload after commit.
        result = session.execute(
            insert(Message.__table__),
            {
                "user_id": user_id,
                "content": content,
                "segments": message_segments,
                "status": status,
                "recipient_count": len(phones),
                "sent_count": 0,
                "failed_count": 0,
                "skipped_count": len(skipped),
                "cancelled_count": 0,
                "created_at": now,
                "scheduled_at": scheduled_at,
                "personalised": personalised,
                "template_id": template_id,
                "source_digest": source_digest,
                "commercial": commercial,
                "department_id": standing.department_id,
                "priority": priority,
            },
        )
        message_id = result.inserted_primary_key[0]  # type: ignore[attr-defined]
        shared = {
            "message_id": message_id,
            "attempts": 0,
            "maybe_duplicate": False,
            "next_attempt_at": due,
            "updated_at": now,
            "priority": lane_of(priority),
        }
        # The claim order (delivery/queue_order.py): one turn after another from the head of
        # the lane, so this send goes one-for-one with those already queued.
        turn = first_turn(session, lane_of(priority), due, now)
        texts_of = texts if texts is not None else [None] * len(phones)
        # Those to send first, in the order given, every row the same but its number (and
        # text); then the skipped ones, each with its reason.
        _insert_recipients(
            session,
            {**shared, "status": RecipientStatus.PENDING, "skip_reason": None},
            ("phone", "content", "turn"),
            [
                (phone, text, turn + position)
                for position, (phone, text) in enumerate(
                    pair for pair in zip(phones, texts_of, strict=True) if pair[0] not in skipped
                )
            ],
        )
        if skipped:
            _insert_recipients(
                session,
                {**shared, "status": RecipientStatus.SKIPPED},
                ("phone", "content", "skip_reason"),
                [
                    (phone, text, skipped[phone])
                    for phone, text in zip(phones, texts_of, strict=True)
                    if phone in skipped
                ],
            )
            # Skipped is final: reported if the sender subscribes (ids read at the commit;
            # every skipped recipient of the new message is one of these).
            outbox.recipients_final_where(session, message_id, RecipientStatus.SKIPPED)
        when = f", scheduled for {format_hkt(scheduled_at)}" if scheduled_at else ""
        left_out = f", {len(skipped)} skipped" if skipped else ""
        kind = ", commercial" if commercial else ""
        audit.record(
            session,
            "sms.send",
            f"message:{message_id}",
            f"{len(phones)} recipient(s){left_out}, {message_segments} segment(s){kind}{when}",
        )
        quotas.reserve(session, standing, charged, eligibility.deliverable_count, now)
        if user_id is not None:
            # Last, so the tally's row lock is held only for the commit, not for the inserts:
            # concurrent sends by one user queue on it briefly and cannot deadlock.
            session.execute(_COUNT_ONE_MORE, {"sender": user_id})
        if held:
            approvals.record_held(session, message_id, standing)
        elif scheduled_at is None:
            ring_after_commit(session)
        telemetry.count_accepted_after_commit(session, len(phones) - len(skipped), len(skipped))
    return AcceptedSend(
        id=message_id,
        status=status,
        recipient_count=len(phones),
        segments=message_segments,
        created_at=now,
        scheduled_at=scheduled_at,
        commercial=commercial,
        eligibility=eligibility,
        priority=priority,
    )


def _sent_segments(
    segments: int | Sequence[int], phones: Sequence[str], skipped: Mapping[str, str]
) -> int:
    """Per SMS for a plain send; for a personalised one, the total of the rows sent."""
    if isinstance(segments, int):
        return segments
    if not skipped:
        return sum(segments)
    return sum(n for phone, n in zip(phones, segments, strict=True) if phone not in skipped)


# From this many rows on, the database's own bulk path (services/bulk_rows.py). Below it,
# the cached Core statement: a single SMS is the API's hottest path.
BULK_INSERT_FROM = 500


def _insert_recipients(
    session: Session,
    shared: dict[str, Any],
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> None:
    table = Recipient.__table__
    if len(rows) >= BULK_INSERT_FROM:
        insert_rows(session, table, columns, rows, shared)
        return
    session.execute(
        insert(table), [{**shared, **dict(zip(columns, row, strict=True))} for row in rows]
    )

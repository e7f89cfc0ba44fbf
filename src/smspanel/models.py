"""Database models. Every timestamp is stored as naive UTC and read back as aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Naive UTC in the database on every dialect; aware UTC in Python."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):  # type: ignore[no-untyped-def]
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


# utf8mb4 with binary collation on MySQL/MariaDB: any Unicode, and the same comparisons
# (case-sensitive, exact) as on SQLite and PostgreSQL.
MYSQL_TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


class MessageStatus(StrEnum):
    """Scheduled until due, then pending until every recipient is final
    (services/message_status.py derives it)."""

    SCHEDULED = "scheduled"
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    PARTIAL = "partial"
    CANCELLED = "cancelled"
    # Maker-checker (services/approvals.py): held until an approver decides.
    AWAITING_APPROVAL = "awaiting_approval"
    REJECTED = "rejected"


FINAL_MESSAGE_STATUSES = (
    MessageStatus.SENT,
    MessageStatus.FAILED,
    MessageStatus.PARTIAL,
    MessageStatus.CANCELLED,
    MessageStatus.REJECTED,
)

# A recipient of a message awaiting approval is pending but due at this time, so no claim
# takes it; approving sets its real due time (now, or the message's scheduled_at).
HELD_UNTIL = datetime(9999, 1, 1, tzinfo=UTC)


class Role(StrEnum):
    """A user's role in their department (services/departments.py); `is_admin` is apart."""

    SENDER = "sender"  # sends, and sees the department's messages
    APPROVER = "approver"  # also approves the department's large sends
    VIEWER = "viewer"  # reads only


class Priority(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"  # claimed before every normal recipient


class RecipientStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"  # a cancel stopped it before it was handed to the gateway
    SKIPPED = "skipped"  # never sent: see SkipReason


class SkipReason(StrEnum):
    """Why a recipient was never sent (services/eligibility.py decides)."""

    OPTED_OUT = "opted_out"
    DNC_REGISTER = "dnc_register"
    FIXED_LINE = "fixed_line"
    PAGER = "pager"
    NOT_MOBILE = "not_mobile"


class DeadLetterStatus(StrEnum):
    PENDING = "pending"
    RETRIED = "retried"
    ABANDONED = "abandoned"


class Department(db.Model):  # type: ignore[name-defined,misc]
    """A unit that answers for its sends: its members' messages, its approvals, its quota."""

    __tablename__ = "departments"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Segments (SMS) per HKT calendar month; 0 = no quota.
    monthly_segment_quota: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # A send to this many recipients or more waits for an approver; 0 = never.
    approval_threshold: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DepartmentUsage(db.Model):  # type: ignore[name-defined,misc]
    """One department's use in one HKT month, reserved by each accept in its own
    transaction (services/quotas.py), so concurrent sends cannot pass the quota together."""

    __tablename__ = "department_usage"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2026-12", HKT
    segments_used: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    message_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    recipient_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # "en" or "zh-Hant" once chosen with /lang/<code>; None follows the browser.
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    # Without a department a user sees only their own messages and may send (as before).
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), nullable=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16), default=Role.SENDER, server_default="sender")
    # Two-factor sign-in (TOTP, services/two_factor.py): the base32 secret once enrolled, and
    # the last time step accepted, so a code cannot be used twice.
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    department: Mapped[Department | None] = relationship()
    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    sessions: Mapped[list[UserSession]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    # The web login this object was loaded for (not stored): Flask-Login keeps it in the
    # session cookie as "<user id>:<session token>", so the server can end that login.
    __allow_unmapped__ = True  # for session_token, which is not a column
    session_token: str | None = None  # set per login by the session loader

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}" if self.session_token else str(self.id)


class RecoveryCode(db.Model):  # type: ignore[name-defined,misc]
    """A single-use two-factor recovery code; only its hash is kept."""

    __tablename__ = "recovery_codes"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MessageTally(db.Model):  # type: ignore[name-defined,misc]
    """How many messages a user owns, kept by each send, so GET /api/sms need not count them.

    Its own table, not a column on users: on MySQL/MariaDB a message insert takes a shared
    lock on the sender's users row (through the messages FK), and updating that same row
    would need an upgrade to exclusive, so two sends by one user could deadlock. Nothing
    references this table, so incrementing it takes only its own row lock.
    """

    __tablename__ = "message_tallies"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    message_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="tokens")


class Message(db.Model):  # type: ignore[name-defined,misc]
    """One send: its content and counters kept in step with its recipients."""

    __tablename__ = "messages"
    __table_args__ = (
        # Newest first, with the id the listings also order by: PostgreSQL can then page
        # from the index alone (SQLite and InnoDB keep the id in every index anyway).
        Index("ix_messages_user_id_created_at_id", "user_id", "created_at", "id"),
        Index("ix_messages_created_at_id", "created_at", "id"),
        # One user's messages of one status, newest first (history's status filter), and
        # the dashboard's "still queued" sum over a user's pending messages. Status leads so
        # that a listing of all a user's messages keeps using (user_id, created_at), in order.
        Index("ix_messages_status_user_id_created_at", "status", "user_id", "created_at"),
        Index("ix_messages_status_created_at", "status", "created_at"),
        # A department's messages, newest first (history, GET /api/sms, approvals).
        Index("ix_messages_department_id_created_at_id", "department_id", "created_at", "id"),
        # A department's messages of one status (history's filter, the dashboard's queued
        # and scheduled), as for one user's above.
        Index(
            "ix_messages_status_department_id_created_at", "status", "department_id", "created_at"
        ),
        # How many of a member's own messages were sent from their department: GET /api/sms
        # counts a member's total as own + department's - both (services/api_listing.py).
        Index("ix_messages_department_id_user_id", "department_id", "user_id"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Messages outlive their sender's account: deleting a user keeps the record.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # The text as written; a personalised send keeps each recipient's own text on the recipient.
    content: Mapped[str] = mapped_column(Text)
    # Per recipient for a plain send; the total over all recipients for a personalised one.
    segments: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default=MessageStatus.PENDING)
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    sent_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cancelled_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When a scheduled message's first recipient was taken: a schedule missed while every
    # process was down shows as started late.
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set by a cancel: dispatchers holding its recipients hand back those not yet sent.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    personalised: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A send made from a template keeps it (unless the template is deleted later), and a send
    # from a file keeps the file's SHA-256, for the duplicate-upload guard.
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("templates.id", ondelete="SET NULL"), nullable=True, index=True
    )
    source_digest: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # A commercial electronic message (UEMO, Cap. 593): skips the do-not-call register and
    # carries the unsubscribe statement.
    commercial: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The department it was sent from: moving the sender later does not move the message.
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), nullable=True
    )
    priority: Mapped[str] = mapped_column(
        String(8), default=Priority.NORMAL, server_default="normal"
    )
    # Maker-checker: who approved or rejected it, when, and why a rejection.
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    decided_by_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    department: Mapped[Department | None] = relationship()

    @property
    def pending_count(self) -> int:
        return (
            self.recipient_count
            - self.sent_count
            - self.failed_count
            - self.skipped_count
            - self.cancelled_count
        )


class Recipient(db.Model):  # type: ignore[name-defined,misc]
    """One number of one message: the unit of delivery and the queue's job row."""

    __tablename__ = "recipients"
    __table_args__ = (
        # What is due, oldest first: a claim's first look, the due rows still in the later
        # range of turns (services/delivery/queue_order.py), the queue's size. Like the next,
        # pending rows only on SQLite, where a finished row then leaves it (the queries name
        # `status = 'pending'` in their SQL, so SQLite can use it); PostgreSQL would drop the
        # leading `status` from a partial index's search and read it whole, and MariaDB
        # has no partial indexes.
        Index(
            "ix_recipients_status_next_attempt_at_turn",
            "status",
            "next_attempt_at",
            "turn",
            sqlite_where=text("status = 'pending'"),
        ),
        # The claim order (queue_order.py): a claim reads its rows from this index alone, in
        # order, and skips those not yet due without visiting the table.
        Index(
            "ix_recipients_claim_order",
            "status",
            "priority",
            "turn",
            "next_attempt_at",
            "id",
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_recipients_message_id_status", "message_id", "status"),
        Index("ix_recipients_phone_message_id", "phone", "message_id"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigId,
        ForeignKey("messages.id", ondelete="CASCADE"),
    )
    phone: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=RecipientStatus.PENDING)
    skip_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The personalised text this recipient is sent; null when it is the message's content.
    content: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Due time; while claimed it is the lease's end, so an abandoned claim comes due again.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    gateway_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gateway_response: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_message: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Set when an earlier attempt timed out after the request was sent: a retry may duplicate.
    maybe_duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The claim order (services/delivery/claims.py): urgent (0) before normal (1), then by
    # turn, which interleaves messages so a small send never waits behind a large one.
    priority: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    turn: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    message: Mapped[Message] = relationship()


class Template(db.Model):  # type: ignore[name-defined,misc]
    """A reusable text with `((placeholders))`, shared by every user who can send."""

    __tablename__ = "templates"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    content: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Up to 4 GB on MySQL/MariaDB, whose plain BLOB stops at 64 KB.
LongBinary = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


class Upload(db.Model):  # type: ignore[name-defined,misc]
    """A file of recipients between its upload and its send: parsed rows, kept for a day.

    In the database rather than on disk, so every serving process and host sees it.
    """

    __tablename__ = "uploads"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), nullable=True
    )
    filename: Mapped[str] = mapped_column(String(255), default="")
    file_format: Mapped[str] = mapped_column(String(16))  # utf-8, big5, xlsx
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the file as uploaded
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[bytes] = mapped_column(LongBinary)  # zlib-compressed JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class DeadLetter(db.Model):  # type: ignore[name-defined,misc]
    """A recipient whose delivery failed for good, kept for review and manual retry."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        Index("ix_dead_letters_status_created_at", "status", "created_at"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recipient_id: Mapped[int] = mapped_column(
        BigId,
        ForeignKey("recipients.id", ondelete="CASCADE"),
        index=True,
    )
    message_id: Mapped[int] = mapped_column(
        BigId,
        ForeignKey("messages.id", ondelete="CASCADE"),
        index=True,
    )
    phone: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=DeadLetterStatus.PENDING)
    error_type: Mapped[str] = mapped_column(String(32))
    error_message: Mapped[str] = mapped_column(String(500))
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retried_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    recipient: Mapped[Recipient] = relationship()
    message: Mapped[Message] = relationship()


class GatewayPacing(db.Model):  # type: ignore[name-defined,misc]
    """The gateway's shared send schedule: one row, so `SMS_RATE_PER_SEC` holds across processes."""

    __tablename__ = "gateway_pacing"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_slot_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginFailureCount(db.Model):  # type: ignore[name-defined,misc]
    """Failed logins of one account or one address in the window that began at
    `window_started_at`: the login throttle's counts, shared by every process."""

    __tablename__ = "login_failures"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class UserSession(db.Model):  # type: ignore[name-defined,misc]
    """One web login; only a hash of its token is kept, so a stolen database opens no session."""

    __tablename__ = "user_sessions"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ip_address: Mapped[str | None] = mapped_column(String(45), nullable=True)


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    """Who did what and when. Append-only: the app never updates or deletes a row."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_action_created_at", "action", "created_at"),
        Index("ix_audit_events_actor_name_created_at", "actor_name", "created_at"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # No foreign key: the record outlives the account it names.
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(120), default="")
    detail: Mapped[str] = mapped_column(String(500), default="")
    channel: Mapped[str] = mapped_column(String(8), default="")
    ip_address: Mapped[str | None] = mapped_column(String(45), nullable=True)


class OptOut(db.Model):  # type: ignore[name-defined,misc]
    """A number on the opt-out register now (UEMO s.9-10); its history is in OptOutRecord."""

    __tablename__ = "opt_outs"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    phone: Mapped[str] = mapped_column(String(8), primary_key=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(16))  # web, csv, api
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_by_name: Mapped[str] = mapped_column(String(64), default="")
    ip_address: Mapped[str | None] = mapped_column(String(45), nullable=True)


class OptOutRecord(db.Model):  # type: ignore[name-defined,misc]
    """Append-only: every addition and removal, kept at least 3 years (the law's record
    period) even after the number leaves the register."""

    __tablename__ = "opt_out_records"
    __table_args__ = (
        Index("ix_opt_out_records_phone_created_at", "phone", "created_at"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(8))  # added, removed
    reason: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    ip_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DncImportStatus(StrEnum):
    LOADING = "loading"
    ACTIVE = "active"
    REPLACED = "replaced"
    FAILED = "failed"


class DncImport(db.Model):  # type: ignore[name-defined,misc]
    """One copy of OFCA's do-not-call register; exactly one is active at a time, so an
    import loads beside the current copy and replaces it in one short transaction."""

    __tablename__ = "dnc_imports"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=DncImportStatus.LOADING, index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    number_count: Mapped[int] = mapped_column(Integer, default=0)
    imported_by_name: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DncNumber(db.Model):  # type: ignore[name-defined,misc]
    """A number of one register copy; the key (import, phone) serves the set-based check.
    No foreign key: an old copy's millions of rows are deleted in batches, not by cascade."""

    __tablename__ = "dnc_numbers"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    import_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    phone: Mapped[str] = mapped_column(String(8), primary_key=True)


LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


class IdempotentRequest(db.Model):  # type: ignore[name-defined,misc]
    """An API send's answer, kept 24 h under its caller's `Idempotency-Key`.

    Written in the send's own transaction, so a stored answer always names a stored
    message; the unique (user, key) makes a racing twin fail and replay this one.
    """

    __tablename__ = "idempotent_requests"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_idempotent_requests_user_id_key"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the call and its body
    status_code: Mapped[int] = mapped_column(SmallInteger)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class WebhookEvent(StrEnum):
    MESSAGE_FINAL = "message.final"
    RECIPIENT_FINAL = "recipient.final"


class WebhookDeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Webhook(db.Model):  # type: ignore[name-defined,misc]
    """A user's one webhook. The secret is kept as is: signing needs it."""

    __tablename__ = "webhooks"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(String(100))  # comma-separated WebhookEvent values
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    secret_rotated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookOutboxEntry(db.Model):  # type: ignore[name-defined,misc]
    """A change to report, written in the same transaction as the change itself.

    The dispatcher packs entries into WebhookDelivery rows (recipients of one message
    batched, at most 1,000 an event) and deletes them in that same transaction.
    """

    __tablename__ = "webhook_outbox"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    recipient_ids: Mapped[str | None] = mapped_column(LongText, nullable=True)  # JSON list
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class WebhookDelivery(db.Model):  # type: ignore[name-defined,misc]
    """One event for one receiver: its signed body's payload, and how its POSTs went.

    `event_id` stays the same over retries and resends, so a receiver can drop duplicates.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_user_id_created_at", "user_id", "created_at"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[str] = mapped_column(LongText)  # the JSON body, exactly as POSTed
    status: Mapped[str] = mapped_column(String(16), default=WebhookDeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retry_until: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(40), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

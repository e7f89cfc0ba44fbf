"""Governance: departments and roles, maker-checker approval, monthly quotas, two-factor
sign-in, and the urgent lane with a fair claim order.

Every new column is nullable or has a server default, so no large table is rebuilt.

Revision ID: a7d3c5e19b42
Revises: 8c41f0a9d2e3
Create Date: 2026-12-02 09:00:00.000000

"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "a7d3c5e19b42"
down_revision = "8c41f0a9d2e3"
branch_labels = None
depends_on = None

MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _add_reference(table, column, referred):
    """A nullable integer column referring to `referred`.id, ON DELETE SET NULL (SQLite
    rebuilds the table for the constraint: see _foreign_keys_off)."""
    name = f"fk_{table}_{column}_{referred}"
    with op.batch_alter_table(table) as batch_op:
        batch_op.add_column(sa.Column(column, sa.Integer(), nullable=True))
        batch_op.create_foreign_key(name, referred, [column], ["id"], ondelete="SET NULL")


def _foreign_keys_off(off):
    """SQLite changes constraints by rebuilding the table; with foreign keys on, dropping the
    old users or messages table would fire the ON DELETE actions of every row pointing at it
    (emptying message_tallies, recipients' messages...)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"PRAGMA foreign_keys={'OFF' if off else 'ON'}")


def upgrade():
    _foreign_keys_off(True)
    op.create_table(
        "departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("monthly_segment_quota", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("approval_threshold", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
        sa.UniqueConstraint("name", name=op.f("uq_departments_name")),
        **MYSQL,
    )
    op.create_table(
        "department_usage",
        sa.Column("department_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("segments_used", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("message_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("recipient_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_department_usage_department_id_departments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("department_id", "month", name=op.f("pk_department_usage")),
        **MYSQL,
    )
    _add_reference("users", "department_id", "departments")
    op.add_column(
        "users", sa.Column("role", sa.String(length=16), server_default="sender", nullable=False)
    )
    op.add_column("users", sa.Column("totp_secret", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("totp_enabled_at", UTC_DATETIME, nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_users_department_id"), "users", ["department_id"])
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("used_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
        **MYSQL,
    )
    op.create_index(op.f("ix_recovery_codes_user_id"), "recovery_codes", ["user_id"])
    _add_reference("messages", "department_id", "departments")
    op.add_column(
        "messages",
        sa.Column("priority", sa.String(length=8), server_default="normal", nullable=False),
    )
    _add_reference("messages", "decided_by_id", "users")
    op.add_column("messages", sa.Column("decided_by_name", sa.String(length=64), nullable=True))
    op.add_column("messages", sa.Column("decided_at", UTC_DATETIME, nullable=True))
    op.add_column("messages", sa.Column("rejection_reason", sa.String(length=500), nullable=True))
    op.create_index(
        op.f("ix_messages_department_id_created_at_id"),
        "messages",
        ["department_id", "created_at", "id"],
    )
    op.create_index(
        op.f("ix_messages_status_department_id_created_at"),
        "messages",
        ["status", "department_id", "created_at"],
    )
    op.create_index(
        op.f("ix_messages_department_id_user_id"), "messages", ["department_id", "user_id"]
    )
    # --- recipients: the claim order (urgent lane and fairness) ---
    op.add_column(
        "recipients", sa.Column("priority", sa.SmallInteger(), server_default="1", nullable=False)
    )
    op.add_column(
        "recipients", sa.Column("turn", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.drop_index("ix_recipients_status_next_attempt_at", table_name="recipients")
    op.create_index(
        op.f("ix_recipients_status_next_attempt_at_turn"),
        "recipients",
        ["status", "next_attempt_at", "turn"],
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        op.f("ix_recipients_claim_order"),
        "recipients",
        ["status", "priority", "turn", "next_attempt_at", "id"],
        sqlite_where=sa.text("status = 'pending'"),
    )
    _scheduled_recipients_wait_in_the_later_range()
    # --- end recipients ---
    _foreign_keys_off(False)


def _scheduled_recipients_wait_in_the_later_range():
    """Pending rows due later (scheduled sends) get the turns a send stores now
    (services/delivery/queue_order.py: 2**62 + due second * 2**20 + position), so claims
    neither read past them nor take them ahead of their time's turn. Per message: all its
    recipients share their due time."""
    recipients = sa.table(
        "recipients",
        sa.column("id", sa.BigInteger()),
        sa.column("message_id", sa.BigInteger()),
        sa.column("status", sa.String()),
        sa.column("next_attempt_at", sa.DateTime()),
        sa.column("turn", sa.BigInteger()),
    )
    bind = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)  # stored naive UTC
    later = recipients.c.next_attempt_at > now
    waiting = bind.execute(
        sa.select(
            recipients.c.message_id,
            sa.func.min(recipients.c.next_attempt_at),
            sa.func.min(recipients.c.id),
        )
        .where(recipients.c.status == "pending", later)
        .group_by(recipients.c.message_id)
    ).all()
    for message_id, due, first_id in waiting:
        if isinstance(due, str):  # SQLite hands back the stored text
            due = datetime.fromisoformat(due)
        base = 2**62 + int(due.replace(tzinfo=UTC).timestamp()) * 2**20
        bind.execute(
            recipients.update()
            .where(
                recipients.c.message_id == message_id,
                recipients.c.status == "pending",
                later,
            )
            .values(turn=base + (recipients.c.id - first_id) % 2**20)
        )


def downgrade():
    _foreign_keys_off(True)
    op.drop_index(op.f("ix_recipients_claim_order"), table_name="recipients")
    op.drop_index(op.f("ix_recipients_status_next_attempt_at_turn"), table_name="recipients")
    op.create_index(
        "ix_recipients_status_next_attempt_at", "recipients", ["status", "next_attempt_at"]
    )
    with op.batch_alter_table("recipients") as batch_op:
        batch_op.drop_column("turn")
        batch_op.drop_column("priority")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_messages_decided_by_id_users"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_messages_department_id_departments"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_messages_department_id_user_id"))
        batch_op.drop_index(batch_op.f("ix_messages_status_department_id_created_at"))
        batch_op.drop_index(batch_op.f("ix_messages_department_id_created_at_id"))
        for column in (
            "rejection_reason",
            "decided_at",
            "decided_by_name",
            "decided_by_id",
            "priority",
            "department_id",
        ):
            batch_op.drop_column(column)
    # Dropping the table drops its index: MariaDB refuses to drop the index first, while
    # the foreign key needs it.
    op.drop_table("recovery_codes")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_users_department_id_departments"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_users_department_id"))
        for column in ("totp_last_step", "totp_enabled_at", "totp_secret", "role", "department_id"):
            batch_op.drop_column(column)
    op.drop_table("department_usage")
    op.drop_table("departments")
    _foreign_keys_off(False)

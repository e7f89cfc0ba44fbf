"""Integration: idempotent API sends, webhooks (subscriptions, the outbox, deliveries).

New tables only; nothing existing is rebuilt.

Revision ID: c3e8f1a26d57
Revises: a7d3c5e19b42
Create Date: 2026-12-03 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "c3e8f1a26d57"
down_revision = "a7d3c5e19b42"
branch_labels = None
depends_on = None

MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def _user_reference():
    return sa.ForeignKey("users.id", ondelete="CASCADE")


def upgrade():
    op.create_table(
        "idempotent_requests",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.Integer(), _user_reference(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotent_requests")),
        sa.UniqueConstraint("user_id", "key", name="uq_idempotent_requests_user_id_key"),
        **MYSQL,
    )
    op.create_index(
        "ix_idempotent_requests_created_at", "idempotent_requests", ["created_at"]
    )
    op.create_table(
        "webhooks",
        sa.Column("user_id", sa.Integer(), _user_reference(), autoincrement=False, nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.String(length=100), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("secret_rotated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_webhooks")),
        **MYSQL,
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.Integer(), _user_reference(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column(
            "message_id",
            BIG_ID,
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("recipient_ids", LONG_TEXT, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_outbox")),
        **MYSQL,
    )
    op.create_index("ix_webhook_outbox_message_id", "webhook_outbox", ["message_id"])
    op.create_index("ix_webhook_outbox_created_at", "webhook_outbox", ["created_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), _user_reference(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("message_id", BIG_ID, nullable=True),
        sa.Column("recipient_count", sa.Integer(), nullable=False),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=False),
        sa.Column("retry_until", UTC_DATETIME, nullable=False),
        sa.Column("lease_owner", sa.String(length=40), nullable=True),
        sa.Column("lease_until", UTC_DATETIME, nullable=True),
        sa.Column("last_status_code", sa.SmallInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("delivered_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        **MYSQL,
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        "ix_webhook_deliveries_user_id_created_at",
        "webhook_deliveries",
        ["user_id", "created_at"],
    )


def downgrade():
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_outbox")
    op.drop_table("webhooks")
    op.drop_table("idempotent_requests")

"""Campaigns: templates, uploads, scheduled and personalised sends, cancel.

Message status grows to 20 characters (`awaiting_approval` is coming) and recipient status to
16 (`cancelled`). On SQLite the two tables are rebuilt once each.

Revision ID: 5b8e2d417c90
Revises: 3f9a1c2e7b54
Create Date: 2026-12-01 14:30:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "5b8e2d417c90"
down_revision = "3f9a1c2e7b54"
branch_labels = None
depends_on = None

MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade():
    op.create_table(
        "templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_templates_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
        sa.UniqueConstraint("name", name=op.f("uq_templates_name")),
        **MYSQL,
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("file_format", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column(
            "rows", sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"), nullable=False
        ),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["templates.id"],
            name=op.f("fk_uploads_template_id_templates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_uploads_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
        **MYSQL,
    )
    with op.batch_alter_table("uploads") as batch_op:
        batch_op.create_index(batch_op.f("ix_uploads_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_uploads_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("messages") as batch_op:
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=16),
            type_=sa.String(length=20),
            existing_nullable=False,
        )
        batch_op.add_column(
            sa.Column("skipped_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("cancelled_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("scheduled_at", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("started_at", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("cancelled_at", UTC_DATETIME, nullable=True))
        batch_op.add_column(
            sa.Column("personalised", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("template_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("source_digest", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_messages_template_id"), ["template_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_messages_source_digest"), ["source_digest"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_template_id_templates"),
            "templates",
            ["template_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("recipients") as batch_op:
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=8),
            type_=sa.String(length=16),
            existing_nullable=False,
        )
        batch_op.add_column(sa.Column("content", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("recipients") as batch_op:
        batch_op.drop_column("content")
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=16),
            type_=sa.String(length=8),
            existing_nullable=False,
        )
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_messages_template_id_templates"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_messages_source_digest"))
        batch_op.drop_index(batch_op.f("ix_messages_template_id"))
        for column in (
            "source_digest",
            "template_id",
            "personalised",
            "cancelled_at",
            "started_at",
            "scheduled_at",
            "cancelled_count",
            "skipped_count",
        ):
            batch_op.drop_column(column)
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=20),
            type_=sa.String(length=16),
            existing_nullable=False,
        )
    op.drop_table("uploads")
    op.drop_table("templates")

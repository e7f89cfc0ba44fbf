"""Hong Kong fit: language preference, skipped recipients, commercial sends, the opt-out
register and the do-not-call register.

Every new column is nullable or has a server default, so no large table is rebuilt.

Revision ID: 8c41f0a9d2e3
Revises: 5b8e2d417c90
Create Date: 2026-12-01 17:40:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "8c41f0a9d2e3"
down_revision = "5b8e2d417c90"
branch_labels = None
depends_on = None

MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(
            sa.Column("commercial", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("recipients") as batch_op:
        batch_op.add_column(sa.Column("skip_reason", sa.String(length=16), nullable=True))

    op.create_table(
        "opt_outs",
        sa.Column("phone", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by_name", sa.String(length=64), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_opt_outs_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_opt_outs")),
        **MYSQL,
    )
    with op.batch_alter_table("opt_outs") as batch_op:
        batch_op.create_index(batch_op.f("ix_opt_outs_created_at"), ["created_at"], unique=False)

    op.create_table(
        "opt_out_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=64), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opt_out_records")),
        **MYSQL,
    )
    with op.batch_alter_table("opt_out_records") as batch_op:
        batch_op.create_index(
            "ix_opt_out_records_phone_created_at", ["phone", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_opt_out_records_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "dnc_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("number_count", sa.Integer(), nullable=False),
        sa.Column("imported_by_name", sa.String(length=64), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("imported_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnc_imports")),
        **MYSQL,
    )
    with op.batch_alter_table("dnc_imports") as batch_op:
        batch_op.create_index(batch_op.f("ix_dnc_imports_status"), ["status"], unique=False)

    op.create_table(
        "dnc_numbers",
        sa.Column("import_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("phone", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("import_id", "phone", name=op.f("pk_dnc_numbers")),
        **MYSQL,
    )


def downgrade():
    op.drop_table("dnc_numbers")
    op.drop_table("dnc_imports")
    op.drop_table("opt_out_records")
    op.drop_table("opt_outs")
    with op.batch_alter_table("recipients") as batch_op:
        batch_op.drop_column("skip_reason")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("commercial")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("language")

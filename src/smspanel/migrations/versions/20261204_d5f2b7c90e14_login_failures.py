"""Login failures: the throttle's counts per account and per address, in the database so
every process of a deployment shares them without Redis.

One new table; nothing existing changes.

Revision ID: d5f2b7c90e14
Revises: c3e8f1a26d57
Create Date: 2026-12-04 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "d5f2b7c90e14"
down_revision = "c3e8f1a26d57"
branch_labels = None
depends_on = None

MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade():
    op.create_table(
        "login_failures",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("window_started_at", UTC_DATETIME, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "subject", name=op.f("pk_login_failures")),
        **MYSQL,
    )
    op.create_index(
        "ix_login_failures_window_started_at", "login_failures", ["window_started_at"]
    )


def downgrade():
    op.drop_table("login_failures")

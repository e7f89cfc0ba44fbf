"""Gateway pacing: one shared schedule row so SMS_RATE_PER_SEC holds across processes.

Revision ID: d25f4afb62cf
Revises: 48a9ed23f46c
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "d25f4afb62cf"
down_revision = "48a9ed23f46c"
branch_labels = None
depends_on = None

MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade():
    pacing = op.create_table(
        "gateway_pacing",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "next_slot_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_pacing")),
        **MYSQL,
    )
    op.bulk_insert(pacing, [{"id": 1, "next_slot_at": datetime(2000, 1, 1)}])


def downgrade():
    op.drop_table("gateway_pacing")

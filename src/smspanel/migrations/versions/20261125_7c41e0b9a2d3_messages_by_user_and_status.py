"""Index messages by status, user and time: history's status filter and the queue sum.

Without it the dashboard's "still queued" figure for one user read every message the user
ever sent (72 ms at 500,000 messages); with it, only the pending ones.

Revision ID: 7c41e0b9a2d3
Revises: d16b240201da
Create Date: 2026-11-25 23:30:00.000000

"""
from alembic import op

revision = "7c41e0b9a2d3"
down_revision = "d16b240201da"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_status_user_id_created_at",
            ["status", "user_id", "created_at"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_status_user_id_created_at")

"""Action responses: what an action with effects answered to one customer message.

One row per (conversation, message id, action) that the action server answered with an action
with effects (the proof check, the handoff, the handoff's address), written in the same
transaction as the action's writes: a resend of the message (same id) gets the stored response
and the effects are not run again (``bot/db/action_memory.py``). Rows are deleted after
``ACTION_MEMORY_RETENTION_S``. A new table only: the readers of ``0006`` keep working.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Creates `action_responses`, its key and its age index."""
    op.create_table(
        "action_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_responses")),
        sa.UniqueConstraint(
            "conversation_id",
            "message_id",
            "action",
            name=op.f("uq_action_responses_conversation_id"),
        ),
    )
    with op.batch_alter_table("action_responses", schema=None) as batch_op:
        batch_op.create_index("ix_action_responses_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    """Drops `action_responses`."""
    with op.batch_alter_table("action_responses", schema=None) as batch_op:
        batch_op.drop_index("ix_action_responses_created_at")
    op.drop_table("action_responses")

"""Support mailbox: the inbound e-mail inbox and the human handoff queue.

Written by hand and checked against ``bot.db.mailbox`` (tests/mail/test_inbox.py compares the
migrated schema with the models). As in ``0001``, the value lists are spelled out: a revision
is a snapshot and must not change when the models do.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INBOX_STATES = ("received", "processing", "replied", "skipped", "handoff", "failed")
HANDOFF_CHANNELS = ("email", "web", "shell")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    """Creates the `inbox_messages` and `handoffs` tables."""
    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.String(length=254), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("conversation_id", sa.String(length=64), nullable=True),
        sa.Column("reply_message_id", sa.String(length=998), nullable=True),
        sa.Column("reply_raw", sa.LargeBinary(), nullable=True),
        sa.Column("send_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_one_of("state", INBOX_STATES), name=op.f("ck_inbox_messages_state")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_inbox_messages_attempts_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_inbox_messages_message_id")),
    )
    op.create_index(
        op.f("ix_inbox_messages_state_next_attempt_at"),
        "inbox_messages",
        ["state", "next_attempt_at"],
    )
    op.create_index(
        op.f("ix_inbox_messages_sender_processed_at"),
        "inbox_messages",
        ["sender", "processed_at"],
    )

    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("customer_address", sa.String(length=254), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("forwarded", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("inbox_message_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(_one_of("channel", HANDOFF_CHANNELS), name=op.f("ck_handoffs_channel")),
        sa.ForeignKeyConstraint(
            ["inbox_message_id"],
            ["inbox_messages.id"],
            name=op.f("fk_handoffs_inbox_message_id_inbox_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
    )
    op.create_index(op.f("ix_handoffs_created_at"), "handoffs", ["created_at"])
    op.create_index(op.f("ix_handoffs_inbox_message_id"), "handoffs", ["inbox_message_id"])


def downgrade() -> None:
    """Drops the two tables (the handoffs first: they point at the inbox)."""
    op.drop_index(op.f("ix_handoffs_inbox_message_id"), table_name="handoffs")
    op.drop_index(op.f("ix_handoffs_created_at"), table_name="handoffs")
    op.drop_table("handoffs")
    op.drop_index(op.f("ix_inbox_messages_sender_processed_at"), table_name="inbox_messages")
    op.drop_index(op.f("ix_inbox_messages_state_next_attempt_at"), table_name="inbox_messages")
    op.drop_table("inbox_messages")

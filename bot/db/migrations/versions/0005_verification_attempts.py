"""Verification attempts: the audit log of order-ownership checks, counted against guessing.

Every check of a proof of ownership (order number + e-mail address or postcode) is a row,
with its outcome, the order number's digits, the client and the conversation, never the
proof. ``bot.verification`` counts the failures per order and per client: the limits then
hold across conversations, ``/restart``, channels and server restarts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Creates `verification_attempts` and its two indexes."""
    op.create_table(
        "verification_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("order_key", sa.String(length=32), nullable=False),
        sa.Column("client_key", sa.String(length=300), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "verified",
                "failed",
                "refused",
                name="verificationoutcome",
                native_enum=False,
                length=8,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "outcome IN ('verified', 'failed', 'refused')",
            name=op.f("ck_verification_attempts_outcome"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_attempts")),
    )
    with op.batch_alter_table("verification_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_verification_attempts_order_key_at", ["order_key", "at"], unique=False
        )
        batch_op.create_index(
            "ix_verification_attempts_client_key_at", ["client_key", "at"], unique=False
        )


def downgrade() -> None:
    """Drops `verification_attempts`."""
    with op.batch_alter_table("verification_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_verification_attempts_client_key_at")
        batch_op.drop_index("ix_verification_attempts_order_key_at")
    op.drop_table("verification_attempts")

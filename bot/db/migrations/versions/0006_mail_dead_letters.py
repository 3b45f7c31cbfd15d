"""Inbox: when a failed mail was handed over to a human (its dead letter).

A mail that ends ``failed`` (unusable, every attempt failed, or it crashed or froze the
worker ``EMAIL_MAX_ATTEMPTS`` times) becomes a handoff, forwarded when
``EMAIL_HANDOFF_FORWARD_TO`` is set (``bot/mail/dead_letters.py``).
``dead_lettered_at`` is set by the one worker that did it: a conditional ``UPDATE ... WHERE
dead_lettered_at IS NULL``, so several workers never hand one mail over twice. The mails that
failed before this revision have it unset: the next worker pass hands them over too. Columns
are only added, so the readers of ``0002`` keep working.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Adds `inbox_messages.dead_lettered_at`."""
    with op.batch_alter_table("inbox_messages") as batch:
        batch.add_column(sa.Column("dead_lettered_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Removes the column."""
    with op.batch_alter_table("inbox_messages") as batch:
        batch.drop_column("dead_lettered_at")

"""Handoffs: where the customer address comes from, and the customer's language.

The web chat now asks the customer for an e-mail address after a handoff (the channel knows
none) and stores it in ``customer_address``; ``address_source`` tells an agent whether the
address is a mail's sender (``email_sender``) or one the customer typed (``customer``,
unverified), and ``language`` which language to answer in. Columns are only added, so the
rows and readers of ``0002`` keep working.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADDRESS_SOURCES = ("email_sender", "customer")


def upgrade() -> None:
    """Adds `handoffs.address_source` and `handoffs.language`."""
    # batch mode: SQLite cannot add a CHECK constraint to an existing table otherwise.
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("address_source", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("language", sa.String(length=2), nullable=True))
        batch.create_check_constraint(
            op.f("ck_handoffs_address_source"),
            "address_source IN (" + ", ".join(repr(value) for value in ADDRESS_SOURCES) + ")",
        )
    # The mail channel's handoffs already hold the sender's address.
    op.execute(
        "UPDATE handoffs SET address_source = 'email_sender' "
        "WHERE channel = 'email' AND customer_address IS NOT NULL"
    )


def downgrade() -> None:
    """Drops the two columns."""
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_constraint(op.f("ck_handoffs_address_source"), type_="check")
        batch.drop_column("language")
        batch.drop_column("address_source")

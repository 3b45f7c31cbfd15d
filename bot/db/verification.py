"""The audit log of order verifications, which is also what the brute-force limits count.

One :class:`VerificationAttempt` per check of a proof of ownership (an order number with an
e-mail address or postcode), wherever it came from: the outcome, the order number's digits,
the client (web: its address as the gateway saw it; e-mail: the sender address), the channel
and the conversation, and never the proof itself. :mod:`bot.verification` counts the failed
rows per order and per client to refuse further checks for a while.

The schema is created by the Alembic revision ``0005`` (never by ``create_all``).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.mailbox import utcnow
from bot.db.models import Base, enum_type, one_of


class VerificationOutcome(enum.StrEnum):
    """What became of one check of a proof of ownership."""

    VERIFIED = "verified"  # the proof matched the order
    FAILED = "failed"  # no such order, or the proof did not match (deliberately one outcome)
    REFUSED = "refused"  # not checked: too many failures on this order or from this client


class VerificationAttempt(Base):
    """One check of a proof of ownership (no proof value is stored)."""

    __tablename__ = "verification_attempts"
    __table_args__ = (
        CheckConstraint(one_of("outcome", VerificationOutcome), name="outcome"),
        Index("ix_verification_attempts_order_key_at", "order_key", "at"),
        Index("ix_verification_attempts_client_key_at", "client_key", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The order number's six digits: "OM-104233", "bt 104233" and "104233" count together.
    order_key: Mapped[str] = mapped_column(String(32))
    # "ip:203.0.113.7", "email:marie@example.fr", "conversation:<id>" (no client known).
    client_key: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(16))
    conversation_id: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[VerificationOutcome] = mapped_column(enum_type(VerificationOutcome, length=8))

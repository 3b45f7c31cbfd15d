"""The support mailbox tables: the inbound e-mail inbox and the human handoff queue.

:class:`InboxMessage` is the durable inbox of the e-mail channel: every inbound message is
stored here (raw, as received) before anything else happens, and its ``state`` walks::

    received --claim--> processing --> replied | skipped | handoff
        ^                   |
        +---- retry --------+--> failed  (too many attempts, or not a usable message)
                                   |
                                   +--> a handoff (``dead_lettered_at``, revision 0006)

The claim is a conditional ``UPDATE ... WHERE state = 'received'`` (see :mod:`bot.mail.inbox`),
so two workers draining the same inbox never process one message twice.

:class:`Handoff` is the queue of conversations a human must take over, written by the e-mail
channel and by the chat actions (web widget, ``rasa shell``) through
:func:`bot.handoffs.record_handoff`.

The tables live in the orders database (same ``Base``, same migrations); the schema is created
by the Alembic revision ``0002`` in ``bot/db/migrations/versions`` (``0003`` adds the
handoff's address source and language, ``0006`` the dead letters' ``dead_lettered_at``).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models import Base, enum_type, one_of

# RFC 5322 caps a header line at 998 characters; real Message-IDs are far shorter, and an
# indexed VARCHAR of this size is fine on SQLite and PostgreSQL.
MESSAGE_ID_LENGTH = 998
ADDRESS_LENGTH = 254  # RFC 5321 path limit


class InboxState(enum.StrEnum):
    """Where an inbound mail is in its processing; the database accepts no other value."""

    RECEIVED = "received"  # stored, waiting for a worker (also: waiting for a retry)
    PROCESSING = "processing"  # claimed by one worker
    REPLIED = "replied"  # the automatic reply was sent
    SKIPPED = "skipped"  # deliberately not answered (auto-reply, list mail, rate limit...)
    HANDOFF = "handoff"  # left to a human (complaint, low confidence, handoff request...)
    FAILED = "failed"  # not a usable message, or every attempt failed


class HandoffChannel(enum.StrEnum):
    """The channel a handed-over conversation came from."""

    EMAIL = "email"
    WEB = "web"
    SHELL = "shell"


class AddressSource(enum.StrEnum):
    """Where a handoff's customer address comes from."""

    EMAIL_SENDER = "email_sender"  # the From address of the mail (the channel vouches for it)
    CUSTOMER = "customer"  # typed by the customer in the chat when asked for it (unverified)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC (what every timestamp column stores)."""
    return dt.datetime.now(dt.UTC)


class InboxMessage(Base):
    """One inbound support e-mail, as received, and what became of it."""

    __tablename__ = "inbox_messages"
    __table_args__ = (
        CheckConstraint(one_of("state", InboxState), name="state"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # The worker's poll: the due `received` rows, oldest first.
        Index("ix_inbox_messages_state_next_attempt_at", "state", "next_attempt_at"),
        # The per-sender daily reply limit counts one sender's recent replies.
        Index("ix_inbox_messages_sender_processed_at", "sender", "processed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The Message-ID header (angle brackets included), or a digest of the content when the
    # sender gave none: the idempotency key of the webhook.
    message_id: Mapped[str] = mapped_column(String(MESSAGE_ID_LENGTH), unique=True)
    # The message exactly as received (the JSON form of a webhook is first turned into an
    # RFC 5322 message), so it can be reprocessed or forwarded whatever happened.
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    store_id: Mapped[str] = mapped_column(String(32))
    # The From address, lower-cased; None when the message has none (then it is `failed`).
    sender: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    state: Mapped[InboxState] = mapped_column(
        enum_type(InboxState, length=16), default=InboxState.RECEIVED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Why a message was skipped or handed over (`auto_submitted`, `complaint`...).
    reason: Mapped[str | None] = mapped_column(String(64))
    # When the current claim was taken; a `processing` row older than the lease is abandoned.
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # A retried message is not claimed again before this time.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The Rasa conversation (sender id) the mail's questions were asked in.
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    # The composed reply is kept once written, so a retry after an SMTP failure sends the very
    # same message (same Message-ID) without asking the bot again.
    reply_message_id: Mapped[str | None] = mapped_column(String(MESSAGE_ID_LENGTH))
    reply_raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Set just before the SMTP conversation starts: an abandoned row with this set may have
    # been answered, so it goes to a human rather than risk a second reply.
    send_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # --- revision 0006 ---
    # When this `failed` mail was handed over to a human (bot/mail/dead_letters.py); a failed
    # row without it is a dead letter no one has seen yet.
    dead_lettered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"InboxMessage(id={self.id!r}, state={self.state.value!r})"


class Handoff(Base):
    """A conversation a human must take over, from any channel."""

    __tablename__ = "handoffs"
    __table_args__ = (
        CheckConstraint(one_of("channel", HandoffChannel), name="channel"),
        # NULL passes a CHECK (SQL's unknown): no address, no source.
        CheckConstraint(one_of("address_source", AddressSource), name="address_source"),
        CheckConstraint("status IN ('open', 'assigned', 'resolved')", name="status"),
        Index("ix_handoffs_created_at", "created_at"),
        Index("ix_handoffs_store_id_status", "store_id", "status"),
        Index("ix_handoffs_conversation_id", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[HandoffChannel] = mapped_column(enum_type(HandoffChannel, length=8))
    # The Rasa sender id (chat) or the e-mail conversation id.
    conversation_id: Mapped[str] = mapped_column(String(128))
    store_id: Mapped[str] = mapped_column(String(32))
    # Where a human can answer the customer: the mail's sender, or the address the customer
    # gave in the chat after the handoff (``address_source`` says which).
    customer_address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    address_source: Mapped[AddressSource | None] = mapped_column(
        enum_type(AddressSource, length=16)
    )
    # The customer's language ("fr"/"en"), so the agent answers in it.
    language: Mapped[str | None] = mapped_column(String(2))
    reason: Mapped[str] = mapped_column(String(64))
    # The start of what the customer wrote, so the queue can be read without opening the mail.
    excerpt: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Whether the original was forwarded to the human support mailbox.
    forwarded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The inbound mail behind an e-mail handoff (None for the chat channels).
    inbox_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbox_messages.id", ondelete="SET NULL"), index=True
    )
    # --- the support console (revision 0004); `language` above is 0003's ---
    # open -> assigned (an agent took it) -> resolved; see bot.db.console.HandoffStatus.
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    assigned_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("console_users.id", ondelete="SET NULL")
    )
    assigned_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Set while an agent has taken the web conversation over live (the bot is paused).
    live_since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The widget's last poll: tells the agent whether the customer is still on the page.
    customer_seen_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"Handoff(id={self.id!r}, channel={self.channel.value!r}, reason={self.reason!r})"


# The console's tables reference the handoffs (and the handoffs its accounts): declaring them
# whenever this module is imported keeps Base.metadata whole for Alembic and its tests.
import bot.db.action_memory  # noqa: E402, F401  (actions' remembered responses, revision 0007)
import bot.db.console  # noqa: E402, F401
import bot.db.verification  # noqa: E402, F401  (the verification attempts, revision 0005)

"""The support console's tables: accounts, sessions, audit log, live handoffs, reporting.

- :class:`ConsoleUser` (an agent, editor or admin) is bound to one or more shops through
  :class:`ConsoleUserShop`; every page and action of the console checks that binding.
- :class:`ConsoleSession` is a server-side session: the cookie holds a random token, the table
  only its keyed hash, so logout (or an admin disabling an account) ends it at once on every
  gateway. :class:`LoginFailure` rows throttle password guessing across gateways.
- :class:`AuditEntry` records who did what (logins, takes, replies, teaching, erasures...).
- :class:`HandoffMessage` holds what was said in a handoff outside the bot: the customer's
  messages while a person was expected, the agent's live messages and e-mail replies.
- :class:`ReportConversation` / :class:`ReportMessage` are the reporting copy of Rasa's tracker
  store (imported by :mod:`bot.console.reporting`, read-only on the tracker side), which the
  review and analytics pages query; :class:`ReportCursor` is the import's bookmark.
- :class:`TeachingExample` is a reviewed training example; :class:`TrainingRun` a retraining
  started from the console; :class:`DemoMail` a message caught by the local SMTP catcher.

The schema is created by the Alembic revision ``0004`` (never by ``create_all``).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.mailbox import ADDRESS_LENGTH, utcnow
from bot.db.models import Base, enum_type, one_of


class Role(enum.StrEnum):
    """What a console account may do (each role includes the ones before it)."""

    AGENT = "agent"  # handoff inbox, conversation review, analytics of its shops
    EDITOR = "editor"  # + teaching (and, later, the answer editor)
    ADMIN = "admin"  # + accounts, retraining, privacy requests, audit log


class HandoffStatus(enum.StrEnum):
    """Where a handoff is in the support team's inbox."""

    OPEN = "open"  # nobody has taken it yet
    ASSIGNED = "assigned"  # an agent took it
    RESOLVED = "resolved"  # answered or closed


class MessageAuthor(enum.StrEnum):
    """Who wrote a message of a transcript."""

    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class Outcome(enum.StrEnum):
    """What became of a customer message (and, for the worst of them, of a conversation)."""

    ANSWERED = "answered"
    CLARIFIED = "clarified"
    OUT_OF_SCOPE = "out_of_scope"
    LOOKUP_FAILED = "lookup_failed"
    HANDED_OFF = "handed_off"


class TrainingState(enum.StrEnum):
    """A retraining started from the console."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"  # trained and evaluated: waiting for an admin to switch it in
    FAILED = "failed"
    SWITCHED = "switched"  # the model Rasa now serves


class ConsoleUser(Base):
    """A person of a shop's support team."""

    __tablename__ = "console_users"
    __table_args__ = (
        CheckConstraint(one_of("role", Role), name="role"),
        CheckConstraint("email = lower(email)", name="email_lower_case"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_type(Role, length=8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ConsoleUserShop(Base):
    """One shop a console account may see."""

    __tablename__ = "console_user_shops"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("console_users.id", ondelete="CASCADE"), primary_key=True
    )
    store_id: Mapped[str] = mapped_column(String(32), primary_key=True)


class ConsoleSession(Base):
    """A logged-in browser; the cookie's token is stored only as a keyed hash."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("console_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class LoginFailure(Base):
    """A failed login, counted per e-mail address and per client address."""

    __tablename__ = "console_login_failures"
    __table_args__ = (
        Index("ix_console_login_failures_email_at", "email", "at"),
        Index("ix_console_login_failures_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    email: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    ip: Mapped[str] = mapped_column(String(64))


class AuditEntry(Base):
    """Who did what in the console, and when."""

    __tablename__ = "console_audit"
    __table_args__ = (Index("ix_console_audit_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", ondelete="SET NULL"))
    # The account's address at the time: the entry stays readable if the account goes.
    actor: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    action: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[str | None] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)


class HandoffMessage(Base):
    """A message of a handoff outside the bot: customer while waiting, agent, system."""

    __tablename__ = "handoff_messages"
    __table_args__ = (
        CheckConstraint(one_of("author", MessageAuthor), name="author"),
        Index("ix_handoff_messages_handoff_id_id", "handoff_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    author: Mapped[MessageAuthor] = mapped_column(enum_type(MessageAuthor, length=8))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    # `web` (shown in the widget) or `email` (sent through SMTP).
    via: Mapped[str] = mapped_column(String(8))
    email_message_id: Mapped[str | None] = mapped_column(String(998))


class ReportConversation(Base):
    """One Rasa conversation (tracker sender id), summarised for the review and analytics."""

    __tablename__ = "report_conversations"
    __table_args__ = (
        CheckConstraint(one_of("outcome", Outcome), name="outcome"),
        Index("ix_report_conversations_store_id_started_at", "store_id", "started_at"),
        Index("ix_report_conversations_started_at", "started_at"),
        # Covers the analytics' GROUP BY day, shop, language, channel (an index-only scan).
        Index(
            "ix_report_conversations_figures",
            "store_id",
            "day",
            "language",
            "channel",
            "handed_off",
            "customer_messages",
            "clarified",
            "out_of_scope",
            "lookups_verified",
            "lookups_failed",
            "lookup_locked",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255), unique=True)
    store_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(2))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # The UTC day of started_at: the analytics group by it without date arithmetic.
    day: Mapped[dt.date] = mapped_column(Date)
    last_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    customer_messages: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[Outcome] = mapped_column(enum_type(Outcome, length=16))
    clarified: Mapped[int] = mapped_column(Integer, default=0)
    out_of_scope: Mapped[int] = mapped_column(Integer, default=0)
    lookups_verified: Mapped[int] = mapped_column(Integer, default=0)
    lookups_failed: Mapped[int] = mapped_column(Integer, default=0)
    lookup_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    handed_off: Mapped[bool] = mapped_column(Boolean, default=False)
    first_message: Mapped[str | None] = mapped_column(Text)
    # The last tracker event read for this conversation (the import rebuilds the whole
    # conversation when it has newer events).
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)


class ReportMessage(Base):
    """One message of a conversation; a customer message carries the intent understood."""

    __tablename__ = "report_messages"
    __table_args__ = (
        CheckConstraint(one_of("author", MessageAuthor), name="author"),
        Index("ix_report_messages_conversation_id_position", "conversation_id", "position"),
        # The analytics' top topics and unanswered messages read this index alone.
        Index(
            "ix_report_messages_author_outcome_store_id_day",
            "author",
            "outcome",
            "store_id",
            "day",
            "intent",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("report_conversations.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    author: Mapped[MessageAuthor] = mapped_column(enum_type(MessageAuthor, length=8))
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(16))
    # Copies of the conversation's shop, language, channel and day, so the analytics filter
    # the messages without a join.
    store_id: Mapped[str] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(2))
    channel: Mapped[str] = mapped_column(String(16))
    day: Mapped[dt.date] = mapped_column(Date)


class ReportCursor(Base):
    """Where the tracker import stopped, and which gateway holds the import for now."""

    __tablename__ = "report_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class TeachingExample(Base):
    """A customer message an editor labelled: a training example, or a topic to add."""

    __tablename__ = "teaching_examples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", ondelete="SET NULL"))
    store_id: Mapped[str] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(2))
    text: Mapped[str] = mapped_column(Text)
    # The normalised text: one example per wording.
    key: Mapped[str] = mapped_column(String(500), unique=True)
    # None: "new topic" (no intent covers it yet; listed for the team, not trained on).
    intent: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    source_sender_id: Mapped[str | None] = mapped_column(String(255))


class TrainingRun(Base):
    """A model trained and evaluated from the console, switched in by an admin."""

    __tablename__ = "training_runs"
    __table_args__ = (CheckConstraint(one_of("state", TrainingState), name="state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", ondelete="SET NULL"))
    state: Mapped[TrainingState] = mapped_column(enum_type(TrainingState, length=16))
    model_path: Mapped[str | None] = mapped_column(String(500))
    # The candidate's `make evaluate` summary (JSON), shown beside the current model's.
    evaluation: Mapped[str | None] = mapped_column(Text)
    log: Mapped[str | None] = mapped_column(Text)


class DemoMail(Base):
    """A message the local SMTP catcher received (local profile without SMTP_URL)."""

    __tablename__ = "demo_mail"
    __table_args__ = (Index("ix_demo_mail_received_at", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    mail_from: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    # The envelope recipients, lower-cased, each between commas: ",a@x,b@y," (LIKE '%,a@x,%').
    rcpt_to: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)

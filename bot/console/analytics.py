"""The analytics figures: conversations, containment, clarification, lookups, topics, e-mail.

Definitions (also in the README, "For support teams"):

- a *conversation* is one Rasa conversation (a widget conversation, an e-mail thread, a shell
  session) with at least one customer message, dated by its first message;
- *contained*: ended without a person (no handoff requested, never taken over);
- *clarification rate* / *out-of-scope rate*: share of customer messages that got a
  clarification question / the "our FAQ does not cover this" answer;
- *order lookups*: conversations with an order proved (verified), failed proofs (each
  failure counts), conversations where the lookups were locked after repeated failures;
- e-mail: mails received (by the inbox), answered automatically, handed over, failed, and the
  median time from receipt to the automatic reply.

Each figure is computed from the reporting tables with SQL filters, then aggregated in Python
(a few thousand rows per month of a shop: cheaper than a portable SQL date arithmetic).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from bot.console.masking import mask_personal_data
from bot.db.console import MessageAuthor, Outcome, ReportConversation, ReportMessage
from bot.db.mailbox import InboxMessage, InboxState

UNANSWERED = (Outcome.CLARIFIED.value, Outcome.OUT_OF_SCOPE.value)
# Conversation intents say nothing of what customers need: left out of the top topics.
NOT_TOPICS = frozenset(
    {
        "greet",
        "goodbye",
        "thank",
        "affirm",
        "deny",
        "inform",
        "stop",
        "nlu_fallback",
        "out_of_scope",
    }
)


@dataclass(frozen=True)
class Filters:
    """What the analytics (and the review) are restricted to."""

    stores: tuple[str, ...]
    language: str | None = None
    channel: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None  # inclusive

    def conversation_clauses(self) -> list[ColumnElement[bool]]:
        """The SQL conditions on :class:`ReportConversation`."""
        clauses: list[ColumnElement[bool]] = [ReportConversation.store_id.in_(self.stores)]
        if self.language:
            clauses.append(ReportConversation.language == self.language)
        if self.channel:
            clauses.append(ReportConversation.channel == self.channel)
        if self.start:
            clauses.append(ReportConversation.day >= self.start)
        if self.end:
            clauses.append(ReportConversation.day <= self.end)
        return clauses

    def message_clauses(self) -> list[ColumnElement[bool]]:
        """The same conditions on :class:`ReportMessage` (its copies of the columns)."""
        clauses: list[ColumnElement[bool]] = [ReportMessage.store_id.in_(self.stores)]
        if self.language:
            clauses.append(ReportMessage.language == self.language)
        if self.channel:
            clauses.append(ReportMessage.channel == self.channel)
        if self.start:
            clauses.append(ReportMessage.day >= self.start)
        if self.end:
            clauses.append(ReportMessage.day <= self.end)
        return clauses


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@dataclass
class Totals:
    """Conversation figures of one group (all, a day, a shop...)."""

    conversations: int = 0
    contained: int = 0
    customer_messages: int = 0
    clarified: int = 0
    out_of_scope: int = 0
    lookups_verified: int = 0
    lookups_failed: int = 0
    lookups_locked: int = 0
    handed_off: int = 0

    def add(self, group: Totals) -> None:
        """Adds the figures of another group (SQL gives them per day, shop, language, channel)."""
        self.conversations += group.conversations
        self.contained += group.contained
        self.customer_messages += group.customer_messages
        self.clarified += group.clarified
        self.out_of_scope += group.out_of_scope
        self.lookups_verified += group.lookups_verified
        self.lookups_failed += group.lookups_failed
        self.lookups_locked += group.lookups_locked
        self.handed_off += group.handed_off

    @property
    def containment(self) -> float | None:
        """Share of conversations that ended without a person."""
        return self.contained / self.conversations if self.conversations else None

    @property
    def clarification_rate(self) -> float | None:
        """Share of customer messages answered with a clarification question."""
        return self.clarified / self.customer_messages if self.customer_messages else None

    @property
    def out_of_scope_rate(self) -> float | None:
        """Share of customer messages outside what the shops' FAQs cover."""
        return self.out_of_scope / self.customer_messages if self.customer_messages else None


@dataclass
class EmailFigures:
    """The e-mail channel's figures."""

    received: int = 0
    auto_answered: int = 0
    handed_over: int = 0
    failed: int = 0
    skipped: int = 0
    waiting: int = 0
    median_reply_s: float | None = None


@dataclass
class Analytics:
    """Everything the analytics page shows."""

    totals: Totals
    by_day: dict[dt.date, Totals]
    by_store: dict[str, Totals]
    by_language: dict[str, Totals]
    by_channel: dict[str, Totals]
    top_topics: list[tuple[str, int]]
    top_unanswered: list[tuple[str, int]]
    email: EmailFigures
    email_by_day: dict[dt.date, EmailFigures] = field(default_factory=dict)


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _groups(session: Session, filters: Filters) -> list[tuple[tuple[str, str, str, str], Totals]]:
    """The figures per (day, shop, language, channel), summed by the database.

    One GROUP BY over the filtered conversations: 10,000 rows become at most a few thousand
    groups without building a Python object per conversation.
    """
    c = ReportConversation
    query = (
        select(
            c.day,
            c.store_id,
            c.language,
            c.channel,
            func.count(),
            _count_if(c.handed_off.is_(False)),
            func.sum(c.customer_messages),
            func.sum(c.clarified),
            func.sum(c.out_of_scope),
            func.sum(c.lookups_verified),
            func.sum(c.lookups_failed),
            _count_if(c.lookup_locked.is_(True)),
            _count_if(c.handed_off.is_(True)),
        )
        .where(*filters.conversation_clauses())
        .group_by(c.day, c.store_id, c.language, c.channel)
    )
    groups = []
    for row in session.execute(query):
        key = (row[0].isoformat(), str(row[1]), str(row[2] or ""), str(row[3]))
        numbers = [int(value or 0) for value in row[4:]]
        groups.append((key, Totals(*numbers)))
    return groups


def _utc_day(session: Session, column: Any) -> Any:
    """SQL for the UTC day of a timestamp (SQLite stores UTC text; PostgreSQL converts)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _seconds_between(session: Session, start: Any, end: Any) -> Any:
    """SQL for the seconds from ``start`` to ``end``."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


_STATE_FIELDS = {
    InboxState.REPLIED.value: "auto_answered",
    InboxState.HANDOFF.value: "handed_over",
    InboxState.FAILED.value: "failed",
    InboxState.SKIPPED.value: "skipped",
}


def _email(session: Session, filters: Filters) -> tuple[EmailFigures, dict[dt.date, EmailFigures]]:
    clauses: list[ColumnElement[bool]] = [InboxMessage.store_id.in_(filters.stores)]
    if filters.start:
        clauses.append(InboxMessage.received_at >= _midnight(filters.start))
    if filters.end:
        clauses.append(InboxMessage.received_at < _midnight(filters.end + dt.timedelta(days=1)))
    day = _utc_day(session, InboxMessage.received_at)
    figures = EmailFigures()
    by_day: dict[dt.date, EmailFigures] = defaultdict(EmailFigures)
    # Counted by the database per day and state: no row of the inbox comes to Python.
    for day_value, state, count in session.execute(
        select(day, InboxMessage.state, func.count())
        .where(*clauses)
        .group_by(day, InboxMessage.state)
    ):
        key = day_value if isinstance(day_value, dt.date) else dt.date.fromisoformat(str(day_value))
        field_name = _STATE_FIELDS.get(str(getattr(state, "value", state)), "waiting")
        for target in (figures, by_day[key]):
            target.received += int(count)
            setattr(target, field_name, getattr(target, field_name) + int(count))
    delays = [
        float(seconds)
        for (seconds,) in session.execute(
            select(_seconds_between(session, InboxMessage.received_at, InboxMessage.processed_at))
            .where(*clauses, InboxMessage.state == InboxState.REPLIED)
            .where(InboxMessage.processed_at.is_not(None))
        )
        if seconds is not None
    ]
    figures.median_reply_s = statistics.median(delays) if delays else None
    return figures, dict(sorted(by_day.items()))


def compute(session: Session, filters: Filters, *, top: int = 10) -> Analytics:
    """The figures for ``filters``."""
    totals = Totals()
    by_day: dict[dt.date, Totals] = defaultdict(Totals)
    by_store: dict[str, Totals] = defaultdict(Totals)
    by_language: dict[str, Totals] = defaultdict(Totals)
    by_channel: dict[str, Totals] = defaultdict(Totals)
    for (day, store, language, channel), group in _groups(session, filters):
        totals.add(group)
        by_day[dt.date.fromisoformat(day[:10])].add(group)
        by_store[store].add(group)
        by_language[language or "?"].add(group)
        by_channel[channel].add(group)

    topics = session.execute(
        select(ReportMessage.intent, func.count())
        .where(
            ReportMessage.author == MessageAuthor.CUSTOMER,
            ReportMessage.outcome == Outcome.ANSWERED.value,
            *filters.message_clauses(),
            ReportMessage.intent.is_not(None),
            ReportMessage.intent.not_in(sorted(NOT_TOPICS)),
        )
        .group_by(ReportMessage.intent)
        .order_by(func.count().desc(), ReportMessage.intent)
        .limit(top)
    ).all()
    # The same wording counted once by the database; masking may merge a few more.
    unanswered: Counter[str] = Counter()
    for text, count in session.execute(
        select(ReportMessage.text, func.count())
        .where(
            ReportMessage.author == MessageAuthor.CUSTOMER,
            ReportMessage.outcome.in_(UNANSWERED),
            *filters.message_clauses(),
        )
        .group_by(ReportMessage.text)
        .order_by(func.count().desc())
        .limit(top * 20)
    ):
        unanswered[" ".join(mask_personal_data(text).lower().split())] += int(count)
    email, email_by_day = _email(session, filters)
    return Analytics(
        totals=totals,
        by_day=dict(sorted(by_day.items())),
        by_store=dict(sorted(by_store.items())),
        by_language=dict(sorted(by_language.items())),
        by_channel=dict(sorted(by_channel.items())),
        top_topics=[(str(intent), int(count)) for intent, count in topics],
        top_unanswered=sorted(unanswered.items(), key=lambda item: (-item[1], item[0]))[:top],
        email=email,
        email_by_day=email_by_day,
    )


CSV_COLUMNS = (
    "day",
    "store",
    "language",
    "channel",
    "conversations",
    "contained",
    "customer_messages",
    "clarified",
    "out_of_scope",
    "lookups_verified",
    "lookups_failed",
    "lookups_locked",
    "handed_off",
)


def conversations_csv(session: Session, filters: Filters) -> str:
    """One CSV row per day, shop, language and channel, with the conversation figures."""
    groups: dict[tuple[str, str, str, str], Totals] = defaultdict(Totals)
    for (day, store, language, channel), group in _groups(session, filters):
        groups[(day[:10], store, language, channel)].add(group)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for key in sorted(groups):
        t = groups[key]
        writer.writerow(
            [
                *key,
                t.conversations,
                t.contained,
                t.customer_messages,
                t.clarified,
                t.out_of_scope,
                t.lookups_verified,
                t.lookups_failed,
                t.lookups_locked,
                t.handed_off,
            ]
        )
    return out.getvalue()


def email_csv(session: Session, filters: Filters) -> str:
    """One CSV row per day with the e-mail figures."""
    _, by_day = _email(session, filters)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("day", "received", "auto_answered", "handed_over", "failed", "skipped"))
    for day, f in by_day.items():
        writer.writerow(
            (day.isoformat(), f.received, f.auto_answered, f.handed_over, f.failed, f.skipped)
        )
    return out.getvalue()

"""Imports Rasa's tracker store into the console's reporting tables (read-only on Rasa's side).

Every Rasa server of a deployment writes its conversations' events to one tracker store (SQLite
locally, PostgreSQL in production); its ``events`` table has an autoincrement id. An import
pass reads the conversations (sender ids) that have events after the bookmark, re-reads each of
them whole and rebuilds its summary (:class:`~bot.db.console.ReportConversation`) and messages
(:class:`~bot.db.console.ReportMessage`). Rebuilding instead of appending makes a pass
idempotent: two gateways, a crash in mid-pass or a re-read window are all harmless. The window
(``OVERLAP_EVENTS`` before the bookmark) catches PostgreSQL transactions that committed a lower
id after a higher one had been read.

What a customer message led to (its *outcome*) is read from the events that follow it until the
next customer message, the worst first: a person was asked for (``action_human_handoff``, or
the conversation is paused while an agent answers), an order check failed or locked
(``lookup_failures`` / ``lookup_locked`` slots), out of scope (intent or answer), clarification
(``nlu_fallback`` / ``action_clarify``), else answered. A conversation's outcome is the worst of
its messages.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from bot.db.console import MessageAuthor, Outcome, ReportConversation, ReportCursor, ReportMessage
from bot.db.mailbox import utcnow

logger = logging.getLogger(__name__)

CURSOR_NAME = "tracker"
OVERLAP_EVENTS = 200
SENDERS_PER_CHUNK = 200
LOCK_S = 120.0

# Rasa's SQLTrackerStore table (rasa/core/tracker_store.py, SQLEvent), declared here so the app
# environment can read it without importing Rasa.
TRACKER_METADATA = MetaData()
TRACKER_EVENTS = Table(
    "events",
    TRACKER_METADATA,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)

SEVERITY = {
    Outcome.ANSWERED: 0,
    Outcome.CLARIFIED: 1,
    Outcome.OUT_OF_SCOPE: 2,
    Outcome.LOOKUP_FAILED: 3,
    Outcome.HANDED_OFF: 4,
}
HANDOFF_ACTION = "action_human_handoff"
CLARIFY_ACTION = "action_clarify"
OUT_OF_SCOPE_ACTION = "utter_out_of_scope"
FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE_INTENT = "out_of_scope"
KNOWN_CHANNELS = ("web", "email", "shell")


def tracker_engine(url: str, *, read_only: bool = True) -> Engine:
    """An engine on Rasa's tracker store; a SQLite file is opened read-only by default.

    Read-only matters: the app's own SQLite engines start every transaction with BEGIN
    IMMEDIATE, which would make Rasa's writes wait for the console's reads.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and read_only:
        path = parsed.database

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

        # NullPool: a connection per use, closed by the thread that used it (a pool shared by
        # threads could close a connection another thread is reading from when disposed).
        return create_engine("sqlite://", creator=connect, poolclass=NullPool)
    return create_engine(url, pool_pre_ping=True)


def as_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as an aware UTC datetime (SQLite hands back naive ones, stored in UTC)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@dataclass
class _Turn:
    """A customer message and what followed it."""

    message: dict[str, Any]
    outcome: Outcome = Outcome.ANSWERED

    def worsen(self, outcome: Outcome) -> None:
        if SEVERITY[outcome] > SEVERITY[self.outcome]:
            self.outcome = outcome


@dataclass
class ConversationSummary:
    """One conversation rebuilt from its tracker events."""

    sender_id: str
    store_id: str
    channel: str
    language: str | None
    started_at: dt.datetime
    last_at: dt.datetime
    outcome: Outcome
    customer_messages: int
    clarified: int
    out_of_scope: int
    lookups_verified: int
    lookups_failed: int
    lookup_locked: bool
    handed_off: bool
    first_message: str | None
    last_event_id: int
    messages: list[dict[str, Any]] = field(default_factory=list)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _when(event: Mapping[str, Any]) -> dt.datetime:
    stamp = event.get("timestamp")
    return dt.datetime.fromtimestamp(float(stamp) if stamp else 0.0, dt.UTC)


def _channel_of(sender_id: str, metadata: Mapping[str, Any], input_channel: Any) -> str:
    channel = metadata.get("channel")
    if isinstance(channel, str) and channel in KNOWN_CHANNELS:
        return channel
    if sender_id.startswith("web-"):
        return "web"
    if sender_id.startswith("email-"):
        return "email"
    if input_channel == "cmdline":
        return "shell"
    return "rest"


def _store_of(sender_id: str, metadata: Mapping[str, Any], stores: Sequence[str]) -> str | None:
    store = metadata.get("store")
    if isinstance(store, str) and store in stores:
        return store
    for candidate in stores:
        if sender_id.startswith(f"web-{candidate}-"):
            return candidate
    return None


def summarise(
    sender_id: str,
    rows: Iterable[tuple[int, str]],
    *,
    stores: Sequence[str],
    default_store: str,
) -> ConversationSummary | None:
    """Rebuilds one conversation from its ``(event id, event JSON)`` rows, in id order.

    Returns None for a conversation without any customer message (a tracker created by a
    status request, or a conversation that only had slots set).
    """
    turns: list[_Turn] = []
    messages: list[dict[str, Any]] = []
    store: str | None = None
    slot_store: str | None = None
    channel: str | None = None
    language: str | None = None
    failures = 0.0
    verified: set[str] = set()
    locked = False
    handed_off = False
    paused = False
    last_id = 0
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None
    for event_id, data in rows:
        last_id = max(last_id, event_id)
        try:
            event = json.loads(data)
        except (TypeError, ValueError):
            continue
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        when = _when(event)
        current = turns[-1] if turns else None
        if kind == "user":
            metadata = _mapping(event.get("metadata"))
            store = store or _store_of(sender_id, metadata, stores)
            channel = channel or _channel_of(sender_id, metadata, event.get("input_channel"))
            parse = _mapping(event.get("parse_data"))
            intent = _mapping(parse.get("intent"))
            name = intent.get("name") if isinstance(intent.get("name"), str) else None
            confidence = intent.get("confidence")
            turn = _Turn(
                {
                    "event_id": event_id,
                    "at": when,
                    "author": MessageAuthor.CUSTOMER,
                    "text": str(event.get("text") or ""),
                    "intent": name,
                    "confidence": float(confidence)
                    if isinstance(confidence, int | float)
                    else None,
                }
            )
            if paused:
                turn.worsen(Outcome.HANDED_OFF)
            elif name == FALLBACK_INTENT:
                turn.worsen(Outcome.CLARIFIED)
            elif name == OUT_OF_SCOPE_INTENT:
                turn.worsen(Outcome.OUT_OF_SCOPE)
            turns.append(turn)
            messages.append(turn.message)
            first_at = first_at or when
            last_at = when
        elif kind == "bot":
            text = event.get("text")
            meta = _mapping(event.get("metadata"))
            if isinstance(text, str) and text.strip():
                author = MessageAuthor.AGENT if meta.get("agent") else MessageAuthor.BOT
                messages.append({"event_id": event_id, "at": when, "author": author, "text": text})
                last_at = when
        elif kind == "action":
            name = event.get("name")
            if current is not None and name == HANDOFF_ACTION:
                current.worsen(Outcome.HANDED_OFF)
                handed_off = True
            elif current is not None and name == CLARIFY_ACTION:
                current.worsen(Outcome.CLARIFIED)
            elif current is not None and name == OUT_OF_SCOPE_ACTION:
                current.worsen(Outcome.OUT_OF_SCOPE)
        elif kind == "pause":
            paused = True
            handed_off = True
            if current is not None:
                current.worsen(Outcome.HANDED_OFF)
        elif kind == "resume":
            paused = False
        elif kind == "slot":
            name, value = event.get("name"), event.get("value")
            if name == "language" and value in ("fr", "en"):
                language = str(value)
            elif name == "store" and isinstance(value, str):
                slot_store = value
            elif name == "lookup_failures" and isinstance(value, int | float):
                if value > failures and current is not None:
                    current.worsen(Outcome.LOOKUP_FAILED)
                failures = max(failures, float(value))
            elif name == "lookup_locked" and value is True:
                locked = True
                if current is not None:
                    current.worsen(Outcome.LOOKUP_FAILED)
            elif name == "verified_order" and isinstance(value, str) and value:
                verified.add(value)
    if not turns or first_at is None or last_at is None:
        return None
    for turn in turns:
        turn.message["outcome"] = turn.outcome.value
    worst = max((turn.outcome for turn in turns), key=SEVERITY.__getitem__)
    resolved_store = store or (slot_store if slot_store in stores else None) or default_store
    return ConversationSummary(
        sender_id=sender_id,
        store_id=resolved_store,
        channel=channel or "rest",
        language=language,
        started_at=first_at,
        last_at=last_at,
        outcome=worst,
        customer_messages=len(turns),
        clarified=sum(1 for t in turns if t.outcome is Outcome.CLARIFIED),
        out_of_scope=sum(1 for t in turns if t.outcome is Outcome.OUT_OF_SCOPE),
        lookups_verified=len(verified),
        lookups_failed=int(failures),
        lookup_locked=locked,
        handed_off=handed_off,
        first_message=next((t.message["text"] for t in turns if t.message["text"]), None),
        last_event_id=last_id,
        messages=messages,
    )


def _save(session: Session, summary: ConversationSummary) -> None:
    existing = session.scalar(
        select(ReportConversation).where(ReportConversation.sender_id == summary.sender_id)
    )
    values = {
        "store_id": summary.store_id,
        "channel": summary.channel[:16],
        "language": summary.language,
        "started_at": summary.started_at,
        "day": summary.started_at.astimezone(dt.UTC).date(),
        "last_at": summary.last_at,
        "customer_messages": summary.customer_messages,
        "outcome": summary.outcome,
        "clarified": summary.clarified,
        "out_of_scope": summary.out_of_scope,
        "lookups_verified": summary.lookups_verified,
        "lookups_failed": summary.lookups_failed,
        "lookup_locked": summary.lookup_locked,
        "handed_off": summary.handed_off,
        "first_message": summary.first_message,
        "last_event_id": summary.last_event_id,
    }
    if existing is None:
        existing = ReportConversation(sender_id=summary.sender_id, **values)
        session.add(existing)
        session.flush()
    else:
        if existing.last_event_id == summary.last_event_id:
            return  # nothing new in this conversation
        for key, value in values.items():
            setattr(existing, key, value)
        session.execute(delete(ReportMessage).where(ReportMessage.conversation_id == existing.id))
    if summary.messages:
        session.execute(
            insert(ReportMessage),
            [
                {
                    "conversation_id": existing.id,
                    "position": position,
                    "event_id": message["event_id"],
                    "at": message["at"],
                    "author": message["author"],
                    "text": message["text"],
                    "intent": (message.get("intent") or "")[:64] or None,
                    "confidence": message.get("confidence"),
                    "outcome": message.get("outcome"),
                    "store_id": summary.store_id,
                    "language": summary.language,
                    "channel": summary.channel[:16],
                    "day": values["day"],
                }
                for position, message in enumerate(summary.messages)
            ],
        )


def _take_lock(session: Session, now: dt.datetime) -> int | None:
    """Takes the import for ``LOCK_S`` seconds; returns the bookmark, None if another has it."""
    if session.get(ReportCursor, CURSOR_NAME) is None:
        # Migration 0004 creates the row; this only covers a table emptied by hand.
        session.add(ReportCursor(name=CURSOR_NAME, last_event_id=0, locked_until=None))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # another gateway created it at the same moment
    taken = session.execute(
        update(ReportCursor)
        .where(
            ReportCursor.name == CURSOR_NAME,
            (ReportCursor.locked_until.is_(None)) | (ReportCursor.locked_until < now),
        )
        .values(locked_until=now + dt.timedelta(seconds=LOCK_S))
    )
    session.commit()
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.scalar(
        select(ReportCursor.last_event_id).where(ReportCursor.name == CURSOR_NAME)
    )


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class ImportReport:
    """What one import pass did."""

    conversations: int = 0
    last_event_id: int = 0
    skipped_locked: bool = False


def import_events(
    sessions: sessionmaker[Session],
    tracker: Engine,
    *,
    stores: Sequence[str],
    default_store: str,
    max_senders: int = 20_000,
) -> ImportReport:
    """One import pass: rebuilds every conversation with events after the bookmark."""
    report = ImportReport()
    # Nothing new (the usual case when a page asks): no lock, no write.
    with sessions() as session:
        known = session.scalar(
            select(ReportCursor.last_event_id).where(ReportCursor.name == CURSOR_NAME)
        )
    try:
        with tracker.connect() as connection:
            newest_event = connection.execute(select(func.max(TRACKER_EVENTS.c.id))).scalar()
    except (OperationalError, ProgrammingError) as exc:
        logger.info("Tracker store not readable yet: %s", exc.orig)
        return report
    if newest_event is None or (known is not None and newest_event <= known):
        report.last_event_id = known or 0
        return report
    with sessions() as session:
        bookmark = _take_lock(session, utcnow())
    if bookmark is None:
        report.skipped_locked = True
        return report
    newest = bookmark
    try:
        try:
            with tracker.connect() as connection:
                recent = connection.execute(
                    select(TRACKER_EVENTS.c.sender_id, func.max(TRACKER_EVENTS.c.id))
                    .where(TRACKER_EVENTS.c.id > max(0, bookmark - OVERLAP_EVENTS))
                    .group_by(TRACKER_EVENTS.c.sender_id)
                    .order_by(func.max(TRACKER_EVENTS.c.id))
                    .limit(max_senders)
                ).all()
                senders = [str(sender) for sender, _ in recent]
                newest = max([bookmark, *(int(top) for _, top in recent)])
                for chunk in _chunks(senders, SENDERS_PER_CHUNK):
                    rows = connection.execute(
                        select(
                            TRACKER_EVENTS.c.sender_id, TRACKER_EVENTS.c.id, TRACKER_EVENTS.c.data
                        )
                        .where(TRACKER_EVENTS.c.sender_id.in_(chunk))
                        .order_by(TRACKER_EVENTS.c.sender_id, TRACKER_EVENTS.c.id)
                    ).all()
                    by_sender: dict[str, list[tuple[int, str]]] = {}
                    for sender, event_id, data in rows:
                        by_sender.setdefault(str(sender), []).append((int(event_id), data))
                    with sessions() as session:
                        for sender, events in by_sender.items():
                            summary = summarise(
                                sender, events, stores=stores, default_store=default_store
                            )
                            if summary is not None:
                                _save(session, summary)
                                report.conversations += 1
                        session.commit()
        except (OperationalError, ProgrammingError) as exc:
            # No tracker store yet (Rasa creates it at its first start) or no events table.
            logger.info("Tracker store not readable yet: %s", exc.orig)
    finally:
        with sessions() as session:
            session.execute(
                update(ReportCursor)
                .where(ReportCursor.name == CURSOR_NAME)
                .values(last_event_id=newest, locked_until=None)
            )
            session.commit()
    report.last_event_id = newest
    return report

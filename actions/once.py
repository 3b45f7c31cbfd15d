"""Actions with effects run once per customer message, even when the message is sent again.

Rasa never calls an action with effects twice (bot/rasa_ext/action_failures.py), but when its
call was cut the customer is asked to send the message again, and the widget and the mail
worker do, with the same ``message_id`` (docs/contracts.md). :func:`run_once` makes that resend
safe: the first call's writes and its response (events and messages) are committed in one
transaction (bot/db/action_memory.py); a later call of the same action for the same
conversation and message gets that response back and writes nothing.

That transaction is the **writing step**: one synchronous function run in one worker thread
after the action has answered, so on SQLite the database's write lock is held for a few
statements, never across an ``await``, another service's call or the building of the answer.

A message without an id (``rasa shell``, a client that sends none) runs as before: each call
writes, in a session of its own.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import IntegrityError, OperationalError

from actions._base import message_metadata
from bot.config import get_settings
from bot.db.action_memory import CallKey, Step, call_steps, forget_old, remember, remembered
from bot.db.session import get_reading_sessionmaker, get_sessionmaker

logger = logging.getLogger(__name__)

#: The metadata key of the latest user message's id (the gateway, the mail worker).
MESSAGE_ID_KEY = "message_id"
#: Runs of an action whose rehearsed result another conversation changed before its writing
#: step (a limit reached meanwhile): the action runs again, at most this many times in all.
MAX_RUNS = 3
#: Writing steps tried when SQLite's write lock was not obtained within the lock wait
#: (``DATABASE_STATEMENT_TIMEOUT_S``): the whole step is tried again, at most this many times.
MAX_LOCK_TRIES = 3


class _Written(enum.Enum):
    WRITTEN = "written"  # the steps and the response committed
    STORED = "stored"  # another call of this message committed first: its response
    CHANGED = "changed"  # a rehearsed step's result changed: nothing written, run again


def call_key(action_name: str, tracker: Tracker) -> CallKey | None:
    """The key of this call, or None when the latest user message has no id."""
    message_id = message_metadata(tracker).get(MESSAGE_ID_KEY)
    if not isinstance(message_id, str) or not message_id.strip():
        return None
    return CallKey(str(tracker.sender_id), message_id, action_name)


def _look_up(key: CallKey) -> dict[str, Any] | None:
    # A reading session: on SQLite a snapshot, no write lock taken or waited for.
    with get_reading_sessionmaker()() as session:
        return remembered(session, key)


def _write(
    key: CallKey, steps: list[Step], response: dict[str, Any]
) -> tuple[_Written, dict[str, Any] | None]:
    """The writing step: the call's writes and its response in one short transaction.

    Raises:
        IntegrityError: another call of the same message committed its response first
            (PostgreSQL: both looked it up before either committed).
    """
    with get_sessionmaker()() as session:
        # The first statement begins the transaction (SQLite: `BEGIN IMMEDIATE`, the write
        # lock, waited for up to the lock wait): a call of the same message that committed
        # meanwhile is seen here.
        stored = remembered(session, key)
        if stored is not None:
            return _Written.STORED, stored
        for step in steps:
            result = step.run(session)
            if step.rehearsed and result != step.result:
                session.rollback()
                return _Written.CHANGED, None
        remember(session, key, response)
        forget_old(session, get_settings().action_memory_retention_s)
        session.commit()
    return _Written.WRITTEN, None


def _is_sqlite_lock_error(error: OperationalError) -> bool:
    return "database is locked" in str(error.orig)


def _write_with_retries(
    key: CallKey, steps: list[Step], response: dict[str, Any]
) -> tuple[_Written, dict[str, Any] | None]:
    # Each try is a whole writing step, rolled back when the lock was not obtained.
    for attempt in range(1, MAX_LOCK_TRIES + 1):
        try:
            return _write(key, steps, response)
        except OperationalError as error:
            if attempt == MAX_LOCK_TRIES or not _is_sqlite_lock_error(error):
                raise
            logger.warning(
                "Action '%s' of %s: the database's write lock was busy (try %d of %d); "
                "its writing step is tried again",
                key.action,
                key.conversation_id,
                attempt,
                MAX_LOCK_TRIES,
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _replay(dispatcher: CollectingDispatcher, said: int, stored: dict[str, Any]) -> list[EventType]:
    del dispatcher.messages[said:]
    dispatcher.messages.extend(stored.get("responses") or [])
    events: list[EventType] = list(stored.get("events") or [])
    return events


def _already_answered(key: CallKey) -> None:
    logger.warning(
        "Action '%s' of %s already answered message %s: its response is given again, "
        "its effects not run twice",
        key.action,
        key.conversation_id,
        key.message_id,
    )


async def run_once(
    action_name: str,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    body: Callable[[], Awaitable[list[EventType]]],
) -> list[EventType]:
    """Runs ``body`` (an action with effects) once for the latest user message.

    If the response of this action to this conversation's message is remembered, it is given
    again (events returned, messages put back in ``dispatcher``) and ``body`` is not run.
    Otherwise ``body`` runs, outside any write transaction; its database work must all go
    through :func:`bot.db.action_memory.rehearsed_write` or
    :func:`~bot.db.action_memory.deferred_write` (a session of its own would write outside
    the call's transaction). Then the writing step commits its steps with its response; an
    exception of ``body`` or of the writing step writes nothing and propagates. When a
    rehearsed step's result changed before the writing step, ``body`` runs again on the
    tracker as it came (its slots and events restored), at most :data:`MAX_RUNS` times.
    """
    key = call_key(action_name, tracker)
    if key is None:
        return await body()
    said = len(dispatcher.messages)
    slots, event_count = dict(tracker.slots), len(tracker.events)
    for run in range(1, MAX_RUNS + 1):
        stored = await asyncio.to_thread(_look_up, key)
        if stored is not None:
            _already_answered(key)
            return _replay(dispatcher, said, stored)
        steps: list[Step] = []
        with call_steps(steps):
            events = await body()
        response = {"events": events, "responses": dispatcher.messages[said:]}
        try:
            written, stored = await asyncio.to_thread(_write_with_retries, key, steps, response)
        except IntegrityError:
            # Another call of the same message (running while this one ran: PostgreSQL lets
            # both look up) committed first: this one's writes are rolled back, its answer given.
            stored = await asyncio.to_thread(_look_up, key)
            if stored is None:
                raise
            logger.warning(
                "Action '%s' of %s ran twice at once for message %s: the first one's effects "
                "and response kept",
                action_name,
                key.conversation_id,
                key.message_id,
            )
            return _replay(dispatcher, said, stored)
        if written is _Written.WRITTEN:
            return events
        if written is _Written.STORED and stored is not None:
            _already_answered(key)
            return _replay(dispatcher, said, stored)
        logger.info(
            "Action '%s' of %s: a checked result changed before it was written (run %d of %d); "
            "the action runs again",
            action_name,
            key.conversation_id,
            run,
            MAX_RUNS,
        )
        del dispatcher.messages[said:]
        tracker.slots.clear()
        tracker.slots.update(slots)
        del tracker.events[event_count:]
    raise RuntimeError(f"{action_name}: its checked results kept changing; nothing written")

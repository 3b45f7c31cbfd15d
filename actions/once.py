"""Actions with effects run once per customer message, even when the message is sent again.

Rasa never calls an action with effects twice (bot/rasa_ext/action_failures.py), but when its
call was cut the customer is asked to send the message again, and the widget and the mail
worker do, with the same ``message_id`` (docs/contracts.md). :func:`run_once` makes that resend
safe: the first call's writes and its response (events and messages) are committed in one
transaction (bot/db/action_memory.py); a later call of the same action for the same
conversation and message gets that response back and writes nothing.

A message without an id (``rasa shell``, a client that sends none) runs as before: each call
writes, in a session of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from actions._base import message_metadata
from bot.config import get_settings
from bot.db.action_memory import CallKey, call_transaction, forget_old, remember, remembered
from bot.db.session import get_sessionmaker

logger = logging.getLogger(__name__)

#: The metadata key of the latest user message's id (the gateway, the mail worker).
MESSAGE_ID_KEY = "message_id"


def call_key(action_name: str, tracker: Tracker) -> CallKey | None:
    """The key of this call, or None when the latest user message has no id."""
    message_id = message_metadata(tracker).get(MESSAGE_ID_KEY)
    if not isinstance(message_id, str) or not message_id.strip():
        return None
    return CallKey(str(tracker.sender_id), message_id, action_name)


def _look_up(session: Session, key: CallKey) -> dict[str, Any] | None:
    # The first statement opens the call's transaction (on SQLite `BEGIN IMMEDIATE`, which
    # waits for the writer: a second call of the same message waits for the first to commit).
    return remembered(session, key)


def _commit(session: Session, key: CallKey, response: dict[str, Any]) -> None:
    remember(session, key, response)
    forget_old(session, get_settings().action_memory_retention_s)
    session.commit()


def _look_up_again(key: CallKey) -> dict[str, Any] | None:
    with get_sessionmaker()() as session:
        return remembered(session, key)


def _replay(dispatcher: CollectingDispatcher, said: int, stored: dict[str, Any]) -> list[EventType]:
    del dispatcher.messages[said:]
    dispatcher.messages.extend(stored.get("responses") or [])
    events: list[EventType] = list(stored.get("events") or [])
    return events


async def run_once(
    action_name: str,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    body: Callable[[], Awaitable[list[EventType]]],
) -> list[EventType]:
    """Runs ``body`` (an action with effects) once for the latest user message.

    Its database work must all go through :func:`bot.db.action_memory.writing_session`: on
    SQLite the call's transaction holds the write lock from its first statement (``BEGIN
    IMMEDIATE``, which every session of this project takes), so another session opened inside
    ``body`` would wait for it until the lock timeout. If the response
    of this action to this conversation's message is remembered, it is given again (events
    returned, messages put back in ``dispatcher``) and ``body`` is not run. Otherwise ``body``
    runs inside one transaction, committed with its response; an exception of ``body`` rolls
    back both (its writes and nothing remembered) and propagates.
    """
    key = call_key(action_name, tracker)
    if key is None:
        return await body()
    said = len(dispatcher.messages)
    session = get_sessionmaker()()
    try:
        stored = await asyncio.to_thread(_look_up, session, key)
        if stored is not None:
            logger.warning(
                "Action '%s' of %s already answered message %s: its response is given again, "
                "its effects not run twice",
                action_name,
                key.conversation_id,
                key.message_id,
            )
            return _replay(dispatcher, said, stored)
        with call_transaction(session):
            events = await body()
        response = {"events": events, "responses": dispatcher.messages[said:]}
        try:
            await asyncio.to_thread(_commit, session, key, response)
        except IntegrityError:
            # Another call of the same message (running while this one ran: PostgreSQL lets
            # both read) committed first: this one's writes are rolled back, its answer given.
            await asyncio.to_thread(session.rollback)
            stored = await asyncio.to_thread(_look_up_again, key)
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
        return events
    finally:
        await asyncio.to_thread(session.close)

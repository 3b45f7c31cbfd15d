"""What an action with effects answered to one customer message, kept to answer it again.

Rasa calls an action with effects (:data:`actions.read_only.WRITING_ACTIONS`: the proof check,
the handoff, the handoff's address) once per message, but the customer sends a message again
when its turn failed (the call was cut: "send it again", bot/rasa_ext/action_failures.py), with
the same ``message_id``. If the action had done its writes before the cut, running it again
would do them twice (a failed proof counted twice, two handoff tickets).

So the action server remembers, per conversation (Rasa's sender id), the latest user message's
``message_id`` and the action name, the response it returned (events and messages), in a
:class:`RememberedResponse` row written **in the same database transaction** as the action's
own writes (:func:`actions.once.run_once` opens it; the writes go to it through
:func:`writing_session`): either both are committed or neither. The same action called again
for the same conversation and message gets the remembered response and writes nothing.

Rows older than ``ACTION_MEMORY_RETENTION_S`` (a week) are deleted by the action server itself
(:func:`forget_old`, at most every :data:`PRUNE_EVERY_S` per process, in the transaction of a
new row). The schema is created by the Alembic revision ``0007``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.db.mailbox import utcnow
from bot.db.models import Base

#: Longest stored key part; a longer one (a mail's Message-ID can be) is stored as its digest.
KEY_LENGTH = 255
#: A process deletes the expired rows at most this often (seconds).
PRUNE_EVERY_S = 600.0


class RememberedResponse(Base):
    """The response of one action to one message of one conversation."""

    __tablename__ = "action_responses"
    __table_args__ = (
        UniqueConstraint("conversation_id", "message_id", "action"),
        Index("ix_action_responses_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    conversation_id: Mapped[str] = mapped_column(String(KEY_LENGTH))
    message_id: Mapped[str] = mapped_column(String(KEY_LENGTH))
    action: Mapped[str] = mapped_column(String(64))
    # JSON: {"events": [...], "responses": [...]}, as the action server answered Rasa.
    response: Mapped[str] = mapped_column(Text)


def _key_part(value: str) -> str:
    if len(value) <= KEY_LENGTH:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CallKey:
    """Which call: the conversation, the latest user message's id, the action."""

    conversation_id: str
    message_id: str
    action: str

    def columns(self) -> dict[str, str]:
        """The key as stored (long parts digested)."""
        return {
            "conversation_id": _key_part(self.conversation_id),
            "message_id": _key_part(self.message_id),
            "action": self.action[:64],
        }


def remembered(session: Session, key: CallKey) -> dict[str, Any] | None:
    """The response remembered for ``key``, or None."""
    columns = key.columns()
    row = session.scalars(
        select(RememberedResponse.response).where(
            RememberedResponse.conversation_id == columns["conversation_id"],
            RememberedResponse.message_id == columns["message_id"],
            RememberedResponse.action == columns["action"],
        )
    ).one_or_none()
    if row is None:
        return None
    response: dict[str, Any] = json.loads(row)
    return response


def remember(
    session: Session, key: CallKey, response: dict[str, Any], *, now: dt.datetime | None = None
) -> None:
    """Adds the response for ``key`` to the session's transaction (flushed, not committed).

    Raises:
        sqlalchemy.exc.IntegrityError: a response is already stored for ``key`` (another call
            of the same message committed first).
    """
    session.add(
        RememberedResponse(
            created_at=now or utcnow(),
            response=json.dumps(response, ensure_ascii=False),
            **key.columns(),
        )
    )
    session.flush()


def forget_older_than(session: Session, cutoff: dt.datetime) -> int:
    """Deletes the responses remembered before ``cutoff``; returns how many."""
    result = session.execute(
        delete(RememberedResponse).where(RememberedResponse.created_at < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)


_last_prune = [-PRUNE_EVERY_S]


def forget_old(session: Session, retention_s: float, *, now: dt.datetime | None = None) -> int:
    """:func:`forget_older_than` the retention, at most every :data:`PRUNE_EVERY_S` per
    process; 0 when it was not time yet."""
    clock = time.monotonic()
    if clock - _last_prune[0] < PRUNE_EVERY_S:
        return 0
    _last_prune[0] = clock
    return forget_older_than(session, (now or utcnow()) - dt.timedelta(seconds=retention_s))


#: The transaction of the running once-only action call (set by actions.once.run_once).
_CALL_SESSION: ContextVar[Session | None] = ContextVar("action_call_session", default=None)


@contextmanager
def call_transaction(session: Session) -> Iterator[None]:
    """Within it, :func:`writing_session` gives ``session`` (not committed by the writers)."""
    token = _CALL_SESSION.set(session)
    try:
        yield
    finally:
        _CALL_SESSION.reset(token)


@contextmanager
def writing_session() -> Iterator[Session]:
    """The session an action's writes go to.

    Inside :func:`call_transaction` (an action with effects answering a message with an id):
    the call's session, flushed on exit and committed later together with the remembered
    response. Otherwise a session of its own, committed on a normal exit (as before: a message
    without an id, a script). An exception rolls back either way. Context variables follow
    :func:`asyncio.to_thread`, so the action's worker threads see the call's session.
    """
    session = _CALL_SESSION.get()
    if session is not None:
        yield session
        session.flush()
        return
    from bot.db.session import get_sessionmaker

    with get_sessionmaker()() as own:
        yield own
        own.commit()

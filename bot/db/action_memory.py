"""What an action with effects answered to one customer message, kept to answer it again.

Rasa calls an action with effects (:data:`actions.read_only.WRITING_ACTIONS`: the proof check,
the handoff, the handoff's address) once per message, but the customer sends a message again
when its turn failed (the call was cut: "send it again", bot/rasa_ext/action_failures.py), with
the same ``message_id``. If the action had done its writes before the cut, running it again
would do them twice (a failed proof counted twice, two handoff tickets).

So the action server remembers, per conversation (Rasa's sender id), the latest user message's
``message_id`` and the action name, the response it returned (events and messages), in a
:class:`RememberedResponse` row written **in the same database transaction** as the action's
own writes: either both are committed or neither. The same action called again for the same
conversation and message gets the remembered response and writes nothing.

That transaction is short: on SQLite it holds the database's only write lock, which every
other writer of every action-server process waits for. The action runs first, outside it: its
database steps go through :func:`rehearsed_write` (a step whose result the answer depends on,
the proof check: run on a reading session, its result kept) or :func:`deferred_write` (a
write the answer does not depend on, the handoff: not run yet). Then
:func:`actions.once.run_once` runs, in one worker thread and without an ``await``, the
**writing step**: begin (on SQLite ``BEGIN IMMEDIATE``), look the response up again, run each
step, check each rehearsed step gives the same result, store the response, commit.

Rows older than ``ACTION_MEMORY_RETENTION_S`` (a week) are deleted by the action server itself
(:func:`forget_old`, at most every :data:`PRUNE_EVERY_S` per process, in the transaction of a
new row). The schema is created by the Alembic revision ``0007``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.db.mailbox import utcnow
from bot.db.models import Base

T = TypeVar("T")

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


#: ``Session.info`` key of a rehearsal's session (reads only; its adds are discarded).
REHEARSAL = "action_memory_rehearsal"


@dataclass
class Step:
    """One database step of a once-only action call: ``run(session)`` reads, then adds rows.

    ``rehearsed``: the action's answer depends on its result (the proof check), which was
    ``result`` when it ran outside the lock; the writing step runs it again under the lock
    and must get the same result.
    """

    run: Callable[[Session], Any]
    rehearsed: bool
    result: Any = None


#: The steps of the running once-only action call (set by actions.once.run_once).
_CALL_STEPS: ContextVar[list[Step] | None] = ContextVar("action_call_steps", default=None)


@contextmanager
def call_steps(steps: list[Step]) -> Iterator[None]:
    """Within it, :func:`rehearsed_write` and :func:`deferred_write` add their step to
    ``steps`` (run later in the call's writing transaction) instead of committing it."""
    token = _CALL_STEPS.set(steps)
    try:
        yield
    finally:
        _CALL_STEPS.reset(token)


def _own_transaction(step: Callable[[Session], T]) -> T:
    from bot.db.session import get_sessionmaker

    with get_sessionmaker()() as own:
        result = step(own)
        own.commit()
        return result


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a rehearsed database step must not flush: it runs again to write")


def rehearse(step: Callable[[Session], T]) -> T:
    """``step``'s result on a reading session (a snapshot, no write lock); its adds discarded."""
    from bot.db.session import get_reading_sessionmaker

    with get_reading_sessionmaker()() as session:
        session.info[REHEARSAL] = True
        event.listen(session, "before_flush", _refuse_flush)
        try:
            return step(session)
        finally:
            session.rollback()


def rehearsed_write(step: Callable[[Session], T]) -> T:
    """Runs a database step whose result the action's answer depends on (the proof check).

    ``step(session)`` reads, then adds its rows to the session without flushing. Inside a
    once-only call (:func:`actions.once.run_once`): rehearsed now outside any write lock
    (:func:`rehearse`), its result returned, and the step kept: the call's writing
    transaction runs it again, with the remembered response, and the action runs again if
    the result differs (another conversation's check changed it meanwhile). Otherwise (a
    message without an id, a script): in a transaction of its own, committed. Synchronous:
    call it in a worker thread (context variables follow :func:`asyncio.to_thread`).
    """
    steps = _CALL_STEPS.get()
    if steps is None:
        return _own_transaction(step)
    result = rehearse(step)
    steps.append(Step(step, rehearsed=True, result=result))
    return result


def deferred_write(step: Callable[[Session], object]) -> None:
    """Runs a database write the action's answer does not depend on (a handoff recorded).

    Inside a once-only call: kept, and run only in the call's writing transaction, with the
    remembered response (so an exception of the action afterwards writes nothing). Otherwise:
    now, in a transaction of its own, committed.
    """
    steps = _CALL_STEPS.get()
    if steps is None:
        _own_transaction(step)
        return
    steps.append(Step(step, rehearsed=False))

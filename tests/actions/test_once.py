"""Actions with effects run once per customer message (actions/once.py, bot/db/action_memory.py).

The real actions against a real database, SQLite and PostgreSQL: a resend of the same message
(same conversation, same ``message_id``) gets the first call's answer again without a second
handoff ticket or a second failed proof counted; the effects and the remembered answer are
committed together or not at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import delete, func, select

import actions.once
from actions.handoff import ActionHumanHandoff, ActionSaveHandoffEmail
from actions.once import run_once
from actions.orders import FORM_NAME as FORM
from actions.orders import ValidateOrderLookupForm
from bot.config import get_settings
from bot.db.action_memory import (
    CallKey,
    RememberedResponse,
    deferred_write,
    forget_old,
    forget_older_than,
    remember,
    remembered,
)
from bot.db.mailbox import Handoff, HandoffChannel
from bot.db.session import get_sessionmaker
from bot.db.verification import VerificationAttempt, VerificationOutcome
from bot.handoffs import record_handoff
from bot.verification import check_proof
from tests.actions.conftest import entity, make_tracker, responses, slot_events, use_database

MARIE_ORDER = "OM-104233"
WRONG_PROOF = "nobody@example.org"


def handoffs_of(conversation_id: str) -> list[Handoff]:
    with get_sessionmaker()() as session:
        rows = session.scalars(select(Handoff).where(Handoff.conversation_id == conversation_id))
        return list(rows)


def failed_attempts(conversation_id: str) -> int:
    with get_sessionmaker()() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(VerificationAttempt)
                .where(
                    VerificationAttempt.conversation_id == conversation_id,
                    VerificationAttempt.outcome == VerificationOutcome.FAILED,
                )
            )
            or 0
        )


def remembered_rows(conversation_id: str) -> int:
    with get_sessionmaker()() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(RememberedResponse)
                .where(RememberedResponse.conversation_id == conversation_id)
            )
            or 0
        )


async def handoff(
    sender: str, message_id: str | None, domain: dict[str, Any]
) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    metadata: dict[str, Any] = {"store": "om-system", "channel": "web"}
    if message_id is not None:
        metadata["message_id"] = message_id
    tracker = make_tracker(
        intent="human_handoff", text="I want a person", metadata=metadata, sender_id=sender
    )
    dispatcher = CollectingDispatcher()
    events: list[dict[str, Any]] = await ActionHumanHandoff().run(dispatcher, tracker, domain)
    return events, dispatcher


async def wrong_proof(
    sender: str, message_id: str, domain: dict[str, Any], failures: float = 0.0
) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    tracker = make_tracker(
        active_loop=FORM,
        entities=[entity("email", WRONG_PROOF)],
        candidates={"order_number": MARIE_ORDER},
        slots={"lookup_failures": failures},
        metadata={"store": "om-system", "channel": "web", "message_id": message_id},
        sender_id=sender,
    )
    dispatcher = CollectingDispatcher()
    events: list[dict[str, Any]] = await ValidateOrderLookupForm().run(dispatcher, tracker, domain)
    return events, dispatcher


async def test_a_resent_handoff_creates_one_ticket_and_answers_the_same(backend, domain) -> None:
    sender = f"web-om-system-{uuid.uuid4().hex}"
    first, said = await handoff(sender, "web:abc:0", domain)
    again, said_again = await handoff(sender, "web:abc:0", domain)
    assert len(handoffs_of(sender)) == 1  # main: 2 tickets
    assert again == first
    assert said_again.messages == said.messages
    assert responses(said_again) == ["utter_human_handoff_ask_email"]
    assert slot_events(again) == {"handoff_requested": True, "handoff_email_requested": True}


async def test_a_resent_wrong_proof_is_counted_once(backend, domain) -> None:
    sender = f"web-om-system-{uuid.uuid4().hex}"
    first, said = await wrong_proof(sender, "web:p1:0", domain)
    again, said_again = await wrong_proof(sender, "web:p1:0", domain)
    assert failed_attempts(sender) == 1  # main: 2
    assert again == first and said_again.messages == said.messages
    assert responses(said_again) == ["utter_order_not_found"]
    assert slot_events(again)["lookup_failures"] == 1.0
    # The next message (a new id) is checked and counted.
    await wrong_proof(sender, "web:p2:0", domain, failures=1.0)
    assert failed_attempts(sender) == 2


async def test_each_message_and_each_message_without_an_id_runs(backend, domain) -> None:
    sender = f"web-om-system-{uuid.uuid4().hex}"
    await handoff(sender, "web:one:0", domain)
    await handoff(sender, "web:two:0", domain)
    await handoff(sender, None, domain)
    await handoff(sender, None, domain)  # as before: no id, nothing to tell a resend by
    assert len(handoffs_of(sender)) == 4
    other = f"web-om-system-{uuid.uuid4().hex}"
    await handoff(other, "web:one:0", domain)  # the same id in another conversation
    assert len(handoffs_of(other)) == 1
    assert remembered_rows(sender) == 2


async def test_the_address_answer_is_stored_once_per_message(backend, domain) -> None:
    sender = f"web-om-system-{uuid.uuid4().hex}"
    await handoff(sender, "web:h:0", domain)
    metadata = {"store": "om-system", "channel": "web", "message_id": "web:addr:0"}
    for _ in range(2):
        tracker = make_tracker(
            text="marie@example.fr",
            entities=[entity("email", "marie@example.fr")],
            metadata=metadata,
            sender_id=sender,
        )
        dispatcher = CollectingDispatcher()
        await ActionSaveHandoffEmail().run(dispatcher, tracker, domain)
        assert responses(dispatcher) == ["utter_handoff_email_saved"]
    (row,) = handoffs_of(sender)
    assert row.customer_address == "marie@example.fr"
    assert remembered_rows(sender) == 2  # the handoff's and the address's


async def test_effects_and_memory_are_committed_together_or_not_at_all(
    backend, domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handoff is written, then remembering its answer fails: the handoff is rolled back
    with it (the customer gets the apology), and the resend records it once."""
    sender = f"web-om-system-{uuid.uuid4().hex}"

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(actions.once, "remember", broken)
    events, dispatcher = await handoff(sender, "web:x:0", domain)
    assert events == [] and responses(dispatcher) == []  # the apology (text), no promise
    assert dispatcher.messages and "handoff" not in str(dispatcher.messages)
    assert handoffs_of(sender) == [] and remembered_rows(sender) == 0
    monkeypatch.undo()
    use_database(monkeypatch, backend)
    await handoff(sender, "web:x:0", domain)
    await handoff(sender, "web:x:0", domain)
    assert len(handoffs_of(sender)) == 1


async def test_an_action_failing_after_its_write_leaves_neither(backend) -> None:
    sender = f"web-om-system-{uuid.uuid4().hex}"
    tracker = make_tracker(metadata={"message_id": "web:f:0"}, sender_id=sender)

    def write() -> None:
        deferred_write(
            lambda session: record_handoff(
                session=session,
                channel=HandoffChannel.WEB,
                conversation_id=sender,
                store_id="om-system",
                reason="human_handoff",
                customer_address=None,
                language="fr",
            )
        )

    async def body() -> list[dict[str, Any]]:
        await asyncio.to_thread(write)
        raise ValueError("after the write")

    with pytest.raises(ValueError, match="after the write"):
        await run_once("action_human_handoff", CollectingDispatcher(), tracker, body)
    assert handoffs_of(sender) == [] and remembered_rows(sender) == 0


async def test_two_calls_of_one_message_at_once_write_once(
    backend, domain, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resend arriving while the cut call still runs: one ticket, both answered alike. On
    SQLite the second writing step waits for the first's write lock and finds its answer; on
    PostgreSQL both write at once (held together here until both store their response), and
    the second one's row conflicts: its ticket is rolled back."""
    if not backend.startswith("sqlite"):
        together = threading.Barrier(2, timeout=30)
        store = remember

        def remember_together(*args: Any, **kwargs: Any) -> None:
            together.wait()
            store(*args, **kwargs)

        monkeypatch.setattr(actions.once, "remember", remember_together)
    sender = f"web-om-system-{uuid.uuid4().hex}"
    (a, said_a), (b, said_b) = await asyncio.gather(
        handoff(sender, "web:c:0", domain), handoff(sender, "web:c:0", domain)
    )
    assert len(handoffs_of(sender)) == 1
    assert a == b and said_a.messages == said_b.messages
    way = "already answered" if backend.startswith("sqlite") else "ran twice at once"
    assert way in caplog.text


def _failed_proof_elsewhere(conversation: str) -> None:
    with get_sessionmaker()() as session:
        check_proof(
            session,
            get_settings(),
            number=MARIE_ORDER,
            email=WRONG_PROOF,
            postcode=None,
            prefer_store="om-system",
            client=f"conversation:{conversation}",
            channel="web",
            conversation=conversation,
        )


async def test_a_check_changed_before_its_writing_step_runs_the_action_again(
    backend, domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check ran outside the write lock (4 failures on the order: failed); another
    conversation's fifth failure is committed before its writing step, where the check now
    refuses: nothing of the first run is written, the action runs again and answers with the
    refusal, counted once."""
    for n in range(4):
        _failed_proof_elsewhere(f"other-{uuid.uuid4().hex}-{n}")
    write = actions.once._write_with_retries
    runs: list[str] = []

    def fifth_failure_first(*args: Any, **kwargs: Any) -> Any:
        if not runs:
            _failed_proof_elsewhere(f"other-{uuid.uuid4().hex}")
        runs.append("write")
        return write(*args, **kwargs)

    monkeypatch.setattr(actions.once, "_write_with_retries", fifth_failure_first)
    sender = f"web-om-system-{uuid.uuid4().hex}"
    events, said = await wrong_proof(sender, "web:r:0", domain)
    assert runs == ["write", "write"]
    assert slot_events(events)["lookup_locked"] is True and responses(said) == []
    assert "lookup_failures" not in slot_events(events)  # the first run's answer is gone
    assert failed_attempts(sender) == 0 and remembered_rows(sender) == 1
    with get_sessionmaker()() as session:
        outcomes = session.scalars(
            select(VerificationAttempt.outcome).where(VerificationAttempt.conversation_id == sender)
        ).all()
    assert outcomes == [VerificationOutcome.REFUSED]


def test_the_store_keeps_long_keys_and_forgets_old_rows(backend) -> None:
    long_id = "email:<" + "x" * 400 + "@example.org>:0"
    key = CallKey("mail-conversation", long_id, "action_human_handoff")
    old = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with get_sessionmaker()() as session:
        session.execute(delete(RememberedResponse))
        remember(session, key, {"events": [{"event": "slot"}], "responses": []}, now=old)
        remember(
            session,
            CallKey("mail-conversation", long_id[:-1] + "1", "action_human_handoff"),
            {"events": [], "responses": [{"text": "é"}]},
            now=old + dt.timedelta(days=10),
        )
        session.commit()
    with get_sessionmaker()() as session:
        assert remembered(session, key) == {"events": [{"event": "slot"}], "responses": []}
        assert remembered(session, CallKey("mail-conversation", long_id, "other")) is None
        assert forget_older_than(session, old + dt.timedelta(days=1)) == 1
        session.commit()
    with get_sessionmaker()() as session:
        assert remembered(session, key) is None
        assert session.scalar(select(func.count()).select_from(RememberedResponse)) == 1


def test_old_rows_are_deleted_at_most_every_ten_minutes_per_process(
    backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [10_000.0]
    monkeypatch.setattr("bot.db.action_memory.time.monotonic", lambda: clock[0])
    monkeypatch.setattr("bot.db.action_memory._last_prune", [-1e9])
    now = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    week = 7 * 24 * 3600.0

    def add(name: str, age: dt.timedelta) -> None:
        with get_sessionmaker()() as session:
            remember(session, CallKey("c", name, "a"), {"events": []}, now=now - age)
            session.commit()

    def prune() -> int:
        with get_sessionmaker()() as session:
            deleted = forget_old(session, week, now=now)
            session.commit()
            return deleted

    with get_sessionmaker()() as session:
        session.execute(delete(RememberedResponse))
        session.commit()
    add("old", dt.timedelta(days=8))
    add("recent", dt.timedelta(days=6))
    assert prune() == 1
    add("old-2", dt.timedelta(days=9))
    clock[0] += 599
    assert prune() == 0  # not yet: at most every 10 minutes
    clock[0] += 2
    assert prune() == 1
    with get_sessionmaker()() as session:
        assert remembered(session, CallKey("c", "recent", "a")) == {"events": []}

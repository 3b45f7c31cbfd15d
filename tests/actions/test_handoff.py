"""action_human_handoff: recorded in the queue (the real table), then said."""

from __future__ import annotations

import uuid
from typing import Any

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.handoff import ActionHumanHandoff
from bot.db.mailbox import Handoff, HandoffChannel
from bot.db.session import get_sessionmaker
from tests.actions.conftest import DEAD_POSTGRES_URL, make_tracker, responses, texts, use_database


def handoffs_of(conversation_id: str) -> list[Handoff]:
    with get_sessionmaker()() as session:
        rows = session.scalars(select(Handoff).where(Handoff.conversation_id == conversation_id))
        return list(rows)


async def run(dispatcher, domain: dict[str, Any], **args: Any) -> list[dict[str, Any]]:
    tracker = make_tracker(intent="human_handoff", **args)
    events: list[dict[str, Any]] = await ActionHumanHandoff().run(dispatcher, tracker, domain)
    return events


async def test_web_handoff_is_recorded_and_flagged(dispatcher, domain) -> None:
    sender = f"web-{uuid.uuid4().hex}"
    events = await run(
        dispatcher,
        domain,
        text="I want to talk to a human",
        metadata={"store": "btomic", "channel": "web"},
        slots={"store": "btomic"},
        sender_id=sender,
    )
    assert events == [
        {"event": "slot", "timestamp": None, "name": "handoff_requested", "value": True}
    ]
    assert responses(dispatcher) == ["utter_human_handoff"]
    (row,) = handoffs_of(sender)
    assert row.channel is HandoffChannel.WEB
    assert row.store_id == "btomic"
    assert row.reason == "human_handoff"
    assert row.excerpt == "I want to talk to a human"
    assert row.customer_address is None


async def test_email_and_shell_channels(domain) -> None:
    mail_sender, shell_sender = f"mail-{uuid.uuid4().hex}", f"shell-{uuid.uuid4().hex}"
    await run(
        CollectingDispatcher(),
        domain,
        text="/human_handoff",
        metadata={"channel": "email", "sender_email": "Marie.Dupont@example.fr"},
        slots={"lookup_locked": True},
        sender_id=mail_sender,
    )
    (mail,) = handoffs_of(mail_sender)
    assert mail.channel is HandoffChannel.EMAIL
    assert mail.customer_address == "marie.dupont@example.fr"
    assert mail.reason == "lookup_failed"
    assert mail.excerpt is None  # a button payload is not the customer's words
    await run(CollectingDispatcher(), domain, input_channel="cmdline", sender_id=shell_sender)
    (shell,) = handoffs_of(shell_sender)
    assert shell.channel is HandoffChannel.SHELL


async def test_queue_down_apologises_without_claiming_the_flag(
    dispatcher, domain, monkeypatch
) -> None:
    use_database(monkeypatch, DEAD_POSTGRES_URL)
    events = await run(dispatcher, domain)
    assert events == []
    assert responses(dispatcher) == []
    assert texts(dispatcher).startswith("Sorry, a technical problem")

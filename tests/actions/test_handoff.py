"""action_human_handoff and action_save_handoff_email: the queue (the real table) and what is said.

The chat knows no address: the handoff asks for one, and the answer is validated and stored
with the handoff (or the route to write in is given when the customer declines).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.handoff import ActionHumanHandoff, ActionSaveHandoffEmail
from bot.db.mailbox import AddressSource, Handoff, HandoffChannel
from bot.db.session import get_sessionmaker
from tests.actions.conftest import (
    DEAD_POSTGRES_URL,
    entity,
    make_tracker,
    responses,
    slot_events,
    texts,
    use_database,
)


def handoffs_of(conversation_id: str) -> list[Handoff]:
    with get_sessionmaker()() as session:
        rows = session.scalars(select(Handoff).where(Handoff.conversation_id == conversation_id))
        return list(rows)


async def run(dispatcher, domain: dict[str, Any], **args: Any) -> list[dict[str, Any]]:
    tracker = make_tracker(intent="human_handoff", **args)
    events: list[dict[str, Any]] = await ActionHumanHandoff().run(dispatcher, tracker, domain)
    return events


async def test_web_handoff_is_recorded_and_asks_for_an_address(dispatcher, domain) -> None:
    sender = f"web-{uuid.uuid4().hex}"
    events = await run(
        dispatcher,
        domain,
        text="I want to talk to a human",
        metadata={"store": "btomic", "channel": "web"},
        slots={"store": "btomic"},
        sender_id=sender,
    )
    assert slot_events(events) == {"handoff_requested": True, "handoff_email_requested": True}
    # No address is known: no promise that someone will get back to the customer.
    assert responses(dispatcher) == ["utter_human_handoff_ask_email"]
    (row,) = handoffs_of(sender)
    assert row.channel is HandoffChannel.WEB
    assert row.store_id == "btomic"
    assert row.reason == "human_handoff"
    assert row.excerpt == "I want to talk to a human"
    assert row.customer_address is None and row.address_source is None
    assert row.language == "en"


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
    assert mail.address_source is AddressSource.EMAIL_SENDER
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


async def save(dispatcher, domain: dict[str, Any], sender: str, **args: Any) -> dict[str, Any]:
    tracker = make_tracker(sender_id=sender, metadata={"channel": "web"}, **args)
    events = await ActionSaveHandoffEmail().run(dispatcher, tracker, domain)
    return slot_events(events)


async def handed_over(domain: dict[str, Any]) -> str:
    sender = f"web-{uuid.uuid4().hex}"
    await run(CollectingDispatcher(), domain, metadata={"channel": "web"}, sender_id=sender)
    return sender


@pytest.mark.parametrize(
    ("text", "entities"),
    [
        ("marie.dupont@example.fr", [entity("email", "marie.dupont@example.fr")]),
        ("oui c'est Marie.Dupont@Example.fr merci", []),  # not extracted: read from the text
        ("<marie.dupont@example.fr>", []),
    ],
)
async def test_a_valid_address_is_stored_with_the_handoff(
    dispatcher, domain, text: str, entities: list[dict[str, Any]]
) -> None:
    sender = await handed_over(domain)
    slots = await save(dispatcher, domain, sender, text=text, entities=entities)
    assert slots == {"handoff_email_requested": False}
    assert responses(dispatcher) == ["utter_handoff_email_saved"]
    assert dispatcher.messages[0]["handoff_email"] == "marie.dupont@example.fr"
    (row,) = handoffs_of(sender)
    assert row.customer_address == "marie.dupont@example.fr"
    assert row.address_source is AddressSource.CUSTOMER


@pytest.mark.parametrize(
    "text", ["marie@example", "marie.dupont@@example.fr", "a@b.fr et c@d.fr", "marie @ example.fr"]
)
async def test_an_invalid_address_is_asked_again_and_not_stored(
    dispatcher, domain, text: str
) -> None:
    sender = await handed_over(domain)
    slots = await save(dispatcher, domain, sender, text=text)
    assert slots == {"handoff_email_requested": True}
    assert responses(dispatcher) == ["utter_handoff_email_invalid"]
    (row,) = handoffs_of(sender)
    assert row.customer_address is None


async def test_no_address_gives_the_route_to_write_in(dispatcher, domain) -> None:
    sender = await handed_over(domain)
    slots = await save(dispatcher, domain, sender, text="non merci", intent="deny")
    assert slots == {"handoff_email_requested": False}
    assert responses(dispatcher) == ["utter_handoff_no_email"]
    (row,) = handoffs_of(sender)
    assert row.customer_address is None


async def test_yes_without_an_address_asks_for_it(dispatcher, domain) -> None:
    sender = await handed_over(domain)
    slots = await save(dispatcher, domain, sender, text="oui", intent="affirm")
    assert slots == {"handoff_email_requested": True}
    assert responses(dispatcher) == ["utter_ask_handoff_email"]

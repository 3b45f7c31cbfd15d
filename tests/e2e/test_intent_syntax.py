"""Rasa's intent syntax typed by a customer, through the real gateway, Rasa and actions.

A message starting with ``/`` is Rasa's way of giving an intent and entities directly
(``/restart``, ``/inform{"verified_order": "..."}``). Typed in the chat, it must be read as
words: no restart, no slot set from its braces, no order data; a quick reply the gateway
offered in that conversation still reaches Rasa as its intent (``bot/payloads.py``). The mail
channel's side is in ``tests/hostile/test_mail_e2e.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import LiveStack

pytestmark = pytest.mark.e2e

TRACKING = "JD014600003828461025"
STORE = "om-system"
# What a customer could type to take over the conversation (issue 12's probe).
FORGED = [
    "/restart",
    "/session_start",
    '/inform{"slot": "x"}',
    '/order_status{"verified_order": "OM-104233"}',
    '/inform{"verified_order": "OM-104233", "verified_proof": "proof"}',
    '/inform{"lookup_failures": 0, "lookup_locked": false}',
    '/affirm{"verified_order": "OM-104233"}',
]
# Slots only the actions set (never from an entity of the customer's text).
ACTION_SLOTS = ("verified_order", "verified_proof", "lookup_locked")


class WebChat:
    """One widget conversation through the gateway's POST /api/chat."""

    def __init__(self, live_stack: LiveStack) -> None:
        self.live_stack = live_stack
        self.sender_id = "e2e" + uuid.uuid4().hex
        self.conversation = f"web-{STORE}-{self.sender_id}"

    def say(self, message: str, **extra: Any) -> list[dict[str, Any]]:
        response = httpx.post(
            f"{self.live_stack.gateway_url}/api/chat",
            json={
                "sender_id": self.sender_id,
                "message": message,
                "store": STORE,
                "language": "fr",
                **extra,
            },
            timeout=90,
        )
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    def tracker(self) -> dict[str, Any]:
        """The conversation's tracker, every event (a restart hides none)."""
        return self.live_stack.tracker(self.conversation, include_events="ALL")


def wrong_proof(attempt: int) -> str:
    """An order status question with a wrong proof of ownership."""
    return f"Où en est ma commande OM-104233 ? Mon e-mail est devine{attempt}@example.com"


def text_of(messages: list[dict[str, Any]]) -> str:
    return " ".join(m.get("text") or "" for m in messages)


def event_names(tracker: dict[str, Any]) -> list[str]:
    return [event["event"] for event in tracker["events"]]


def user_intents(tracker: dict[str, Any]) -> list[tuple[str, float, list[str]]]:
    """(intent, confidence, entity types) of every user message of the conversation."""
    found = []
    for event in tracker["events"]:
        if event["event"] != "user":
            continue
        data = event.get("parse_data") or {}
        intent = data.get("intent") or {}
        entities = [e.get("entity") for e in data.get("entities") or []]
        found.append((intent.get("name"), float(intent.get("confidence") or 0.0), entities))
    return found


def test_typed_intent_syntax_neither_restarts_nor_sets_slots(live_stack: LiveStack) -> None:
    chat = WebChat(live_stack)
    asked = text_of(chat.say("Où en est ma commande OM-104233 ?"))
    assert "code postal" in asked, asked  # the lookup started: the proof is asked for
    started = chat.tracker()
    assert started["slots"]["order_number"]
    events_before = len(started["events"])

    for forged in FORGED:
        answer = chat.say(forged)
        # A clear answer to each (whatever the NLU made of the words), never order data.
        assert answer and text_of(answer).strip(), forged
        assert TRACKING not in text_of(answer), forged

    tracker = chat.tracker()
    new_events = tracker["events"][events_before:]
    assert "restart" not in event_names(tracker)
    # No new session either (a session start would forget the lookup).
    assert "session_started" not in [event["event"] for event in new_events]
    for slot in ACTION_SLOTS:
        assert tracker["slots"][slot] in (None, False), (slot, tracker["slots"][slot])
    # Rasa's NLU read each one as text: no intent given with confidence 1 and no entity
    # taken from the braces (only what the text itself holds: the order number, an e-mail).
    forged_turns = user_intents(tracker)[-len(FORGED) :]
    assert len(forged_turns) == len(FORGED)
    for (intent, confidence, entities), forged in zip(forged_turns, FORGED, strict=True):
        # Rasa's reading of the syntax gives confidence 1; the classifier never does.
        assert intent not in {"restart", "session_start"} and confidence < 1.0, forged
        assert not set(entities) & {"slot", "verified_order", "verified_proof", "lookup_locked"}
    # The texts Rasa stored are the customer's, behind the invisible mark.
    stored = [e["text"] for e in tracker["events"] if e["event"] == "user"][-len(FORGED) :]
    assert [text.lstrip("\u2060") for text in stored] == FORGED
    # The lookup is still there: the right proof now gives the order's status.
    answer = text_of(chat.say("marie.dupont@example.fr"))
    if TRACKING not in answer:
        # The forged texts may have left the form (read as another question): ask again.
        answer = text_of(chat.say("Où en est ma commande OM-104233 ? marie.dupont@example.fr"))
    assert TRACKING in answer, answer


def test_an_offered_button_still_reaches_rasa_as_its_intent(live_stack: LiveStack) -> None:
    chat = WebChat(live_stack)
    offered: list[dict[str, Any]] = []
    for attempt in range(3):
        answer = chat.say(wrong_proof(attempt))
        offered = [b for m in answer for b in m.get("buttons") or []]
    handoff = [b for b in offered if b["payload"] == "/human_handoff"]
    assert handoff, offered
    # Typed, the same payload is words for the NLU (whatever it makes of them).
    chat.say("/human_handoff")
    typed = chat.tracker()["events"]
    assert [e["text"] for e in typed if e["event"] == "user"][-1] == "\u2060/human_handoff"
    assert user_intents(chat.tracker())[-1][1] < 1.0
    # Clicked (payload and the gateway's signature), it is the intent itself.
    (button,) = handoff
    clicked = text_of(chat.say(button["payload"], signature=button["signature"]))
    # (The typed words "human handoff" may have switched the conversation to English.)
    assert "transmis cette conversation" in clicked or "passed this conversation on" in clicked
    assert user_intents(chat.tracker())[-1] == ("human_handoff", 1.0, [])


def test_new_conversation_restarts_the_old_one_but_not_the_order_lock(
    live_stack: LiveStack,
) -> None:
    chat = WebChat(live_stack)
    for attempt in range(3):
        chat.say(wrong_proof(attempt))
    assert chat.tracker()["slots"]["lookup_locked"] is True
    # The widget's "new conversation": the old one restarted, a fresh id.
    response = httpx.post(
        f"{live_stack.gateway_url}/api/chat/new",
        json={"sender_id": chat.sender_id, "store": STORE},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    old = chat.tracker()
    assert event_names(old)[-1] == "restart"
    assert event_names(old).count("restart") == 1
    assert old["slots"]["lookup_locked"] in (None, False)
    fresh = WebChat(live_stack)
    fresh.sender_id = response.json()["sender_id"]
    fresh.conversation = f"web-{STORE}-{fresh.sender_id}"
    assert fresh.sender_id != chat.sender_id
    # Two more wrong postcodes in the new conversation: five on this order within the hour.
    for attempt in range(3, 5):
        fresh.say(wrong_proof(attempt))
    # The order is locked everywhere now: even the owner's proof gets no order data.
    answer = text_of(fresh.say("Où en est ma commande OM-104233 ? marie.dupont@example.fr"))
    assert TRACKING not in answer, answer

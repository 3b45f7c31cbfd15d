"""Synthetic conversations in Rasa's tracker-store format (analytics tests, benchmark).

Each :class:`Turn` becomes the events Rasa 3.6 writes for one customer message (``user`` with
its ``parse_data``, the ``action`` events, ``bot`` utterances, ``slot`` events), so the import
reads them exactly as it reads a real conversation (the end-to-end tests check the same
import on real Rasa conversations).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, insert

from bot.console.reporting import TRACKER_EVENTS, TRACKER_METADATA


@dataclass(frozen=True)
class Turn:
    """One customer message and what the bot did."""

    text: str
    intent: str
    confidence: float = 0.95
    actions: tuple[str, ...] = ()
    answer: str = "…"
    slots: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Conversation:
    """One conversation to write."""

    store: str
    channel: str
    language: str
    started_at: dt.datetime
    turns: Sequence[Turn]
    sender_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    @property
    def rasa_sender(self) -> str:
        """The sender id the channel gives Rasa."""
        prefix = "web-" + self.store if self.channel == "web" else self.channel
        return f"{prefix}-{self.sender_id}"


def events_of(conversation: Conversation) -> list[dict[str, Any]]:
    """The tracker events of ``conversation``, in order."""
    clock = conversation.started_at.timestamp()
    events: list[dict[str, Any]] = [
        {"event": "action", "timestamp": clock, "name": "action_session_start"},
        {"event": "session_started", "timestamp": clock},
        {"event": "action", "timestamp": clock, "name": "action_listen"},
    ]
    metadata = {"store": conversation.store, "channel": conversation.channel}
    for number, turn in enumerate(conversation.turns):
        clock += 5 + number
        events.append(
            {
                "event": "user",
                "timestamp": clock,
                "text": turn.text,
                "parse_data": {
                    "intent": {"name": turn.intent, "confidence": turn.confidence},
                    "entities": [],
                    "text": turn.text,
                    "metadata": metadata,
                },
                "input_channel": "rest",
                "metadata": metadata,
            }
        )
        if number == 0:
            events.append(
                {
                    "event": "slot",
                    "timestamp": clock,
                    "name": "language",
                    "value": conversation.language,
                }
            )
        for name, value in turn.slots:
            events.append({"event": "slot", "timestamp": clock, "name": name, "value": value})
        for action in turn.actions:
            events.append({"event": "action", "timestamp": clock, "name": action})
            if action.startswith("utter_") or action.startswith("action_"):
                events.append(
                    {"event": "bot", "timestamp": clock, "text": turn.answer, "metadata": {}}
                )
        events.append({"event": "action", "timestamp": clock, "name": "action_listen"})
    return events


def create_tracker_table(engine: Engine) -> None:
    """Creates Rasa's ``events`` table (as Rasa's SQL tracker store would)."""
    TRACKER_METADATA.create_all(engine)


def write_conversations(engine: Engine, conversations: Iterable[Conversation]) -> int:
    """Appends the conversations' events to the tracker store; returns how many events."""
    rows = []
    for conversation in conversations:
        sender = conversation.rasa_sender
        for event in events_of(conversation):
            rows.append(
                {
                    "sender_id": sender,
                    "type_name": event["event"],
                    "timestamp": event.get("timestamp"),
                    "intent_name": (event.get("parse_data") or {}).get("intent", {}).get("name"),
                    "action_name": event.get("name") if event["event"] == "action" else None,
                    "data": json.dumps(event),
                }
            )
    with engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(insert(TRACKER_EVENTS), rows[start : start + 5000])
    return len(rows)


# --- a realistic mix, for the benchmark and the demo ------------------------------------------

_FAQ = (
    ("Quels moyens de paiement acceptez-vous ?", "payment_methods", "fr"),
    ("Combien de temps prend la livraison ?", "delivery_time", "fr"),
    ("Do you deliver to Switzerland?", "delivery_countries", "en"),
    ("How much is shipping?", "shipping_cost", "en"),
    ("Puis-je retourner un article ?", "return_policy", "fr"),
    ("Is there a warranty?", "warranty", "en"),
)


def random_conversation(
    rng: random.Random, *, start: dt.datetime, days: int, stores: Sequence[str]
) -> Conversation:
    """A conversation drawn from a mix of answered, clarified, out-of-scope, lookup and handoff."""
    store = rng.choice(stores)
    text, intent, language = rng.choice(_FAQ)
    turns = [Turn("Bonjour" if language == "fr" else "Hello", "greet", actions=("utter_greet",))]
    roll = rng.random()
    if roll < 0.55:
        turns.append(Turn(text, intent, actions=(f"utter_{intent}",)))
    elif roll < 0.7:
        turns.append(Turn("truc bizarre ?", "nlu_fallback", 0.3, actions=("action_clarify",)))
    elif roll < 0.8:
        turns.append(
            Turn("Vendez-vous des vélos ?", "out_of_scope", actions=("utter_out_of_scope",))
        )
    elif roll < 0.92:
        turns.append(
            Turn(
                "Où en est ma commande OM-104233 ? marie.dupont@example.fr",
                "order_status",
                actions=("order_lookup_form", "action_answer_order_lookup"),
                slots=(("verified_order", "OM-104233"),),
            )
        )
    else:
        turns.append(
            Turn("je veux parler à quelqu'un", "human_handoff", actions=("action_human_handoff",))
        )
    when = start + dt.timedelta(days=rng.randrange(days), seconds=rng.randrange(86_000))
    channel = "web" if rng.random() < 0.8 else "email"
    return Conversation(store, channel, language, when, turns)

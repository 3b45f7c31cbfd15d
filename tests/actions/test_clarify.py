"""action_clarify: the two most likely topics as buttons, in the customer's language."""

from __future__ import annotations

from actions.clarify import ActionClarify
from tests.actions.conftest import make_tracker

RANKING = [
    {"name": "nlu_fallback", "confidence": 0.3},
    {"name": "deny", "confidence": 0.25},
    {"name": "payment_methods", "confidence": 0.2},
    {"name": "delivery_time", "confidence": 0.15},
    {"name": "warranty", "confidence": 0.1},
]


async def test_buttons_in_french(dispatcher, domain) -> None:
    tracker = make_tracker({"language": "fr"}, intent="nlu_fallback", ranking=RANKING)
    assert await ActionClarify().run(dispatcher, tracker, domain) == []
    (message,) = dispatcher.messages
    assert message["response"] == "utter_clarify_intro"
    assert message["buttons"] == [
        {"title": "Moyens de paiement", "payload": "/payment_methods"},
        {"title": "Délais de livraison", "payload": "/delivery_time"},
        {"title": "Autre chose", "payload": "/deny"},
    ]


async def test_buttons_in_english_with_few_candidates(dispatcher, domain) -> None:
    tracker = make_tracker(
        intent="nlu_fallback", ranking=[{"name": "nlu_fallback"}, {"name": "order_status"}]
    )
    await ActionClarify().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["buttons"] == [
        {"title": "Order status", "payload": "/order_status"},
        {"title": "Something else", "payload": "/deny"},
    ]

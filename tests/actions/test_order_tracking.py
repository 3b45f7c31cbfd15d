"""action_ask_order_number: the shop's tracking route the first time, then just the question."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker

from actions.order_tracking import ActionAskOrderNumber
from bot.answers.library import shop_texts
from tests.actions.conftest import make_tracker, responses


async def ask(dispatcher, domain: dict[str, Any], tracker: Tracker) -> list[str]:
    assert await ActionAskOrderNumber().run(dispatcher, tracker, domain) == []
    return responses(dispatcher)


@pytest.mark.parametrize("text", ["comment suivre ma commande ?", "how do I track my package?"])
async def test_a_tracking_question_gets_the_shops_route_first(dispatcher, domain, text) -> None:
    tracker = make_tracker(intent="order_status", text=text, slots={"lookup_purpose": "status"})
    assert await ask(dispatcher, domain, tracker) == ["utter_order_tracking"]


async def test_after_a_failed_check_only_the_number_is_asked(dispatcher, domain) -> None:
    # "Where is my order OM-999999? marie@example.fr": not found (said this turn), asked again.
    tracker = make_tracker(intent="order_status", slots={"lookup_purpose": "status"})
    tracker.events.append({"event": "bot", "text": "I could not find an order ..."})
    assert await ask(dispatcher, domain, tracker) == ["utter_ask_order_number"]


@pytest.mark.parametrize(
    ("intent", "purpose"),
    [
        ("affirm", "refund"),  # "yes" to the refund offer: the refund policy was just given
        ("customs_duties", "status"),  # a FAQ question in the middle of the lookup
        ("inform", "status"),  # a proof without a number
    ],
)
async def test_other_asks_are_just_the_question(dispatcher, domain, intent, purpose) -> None:
    tracker = make_tracker(intent=intent, slots={"lookup_purpose": purpose})
    assert await ask(dispatcher, domain, tracker) == ["utter_ask_order_number"]


async def test_the_route_of_each_shop_is_its_own_text(domain) -> None:
    assert "utter_order_tracking" in domain["responses"]
    # Each shop writes its own route (data/stores/<shop>/texts.yml), not a shared text.
    for store in ("om-system", "btomic"):
        assert "utter_order_tracking" in shop_texts(store).templates

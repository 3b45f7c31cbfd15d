"""FAQ answers through the real Rasa server: the right shop's text in the customer's language.

The expected text is the shop's template for the language (data/stores/<shop>/texts.yml) filled
with its facts, so this proves the whole path: language detection, the store from the channel
metadata, intent classification and the answer service Rasa asks for the text.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.answers.library import render
from bot.i18n import normalise_language
from tests.conftest import LiveStack, new_sender, texts

pytestmark = pytest.mark.e2e


def expected_text(response: str, store: str, language: str) -> str:
    """The text of `response` for this store and language, spaces normalised."""
    return " ".join(render(response, store, normalise_language(language)).split())


def said(messages: list[dict[str, Any]]) -> str:
    return " ".join(texts(messages).split())


QUESTIONS = {
    ("btomic", "fr"): [
        ("Combien de temps met la livraison d'une montre ?", "utter_delivery_time"),
        ("Votre garantie couvre quoi exactement et pendant combien de temps ?", "utter_warranty"),
        ("Ma montre est arrivée avec le verre fissuré, je fais quoi ?", "utter_damaged_item"),
        ("Les frais de livraison c'est combien ?", "utter_shipping_cost"),
        ("Est-ce que les réparations sont payantes ?", "utter_repair_cost"),
    ],
    ("om-system", "en"): [
        ("How long will it take for my camera to be delivered?", "utter_delivery_time"),
        ("What is your return policy for lenses?", "utter_return_policy"),
        ("Who pays the shipping costs when I send something back?", "utter_return_shipping_cost"),
        ("Will I have to pay customs duties if I order from Norway?", "utter_customs_duties"),
        ("How long is the warranty on the OM-1?", "utter_warranty"),
    ],
}


@pytest.mark.parametrize(("store", "language"), list(QUESTIONS))
def test_a_conversation_gets_the_store_answers_in_its_language(
    live_stack: LiveStack, store: str, language: str
) -> None:
    sender = new_sender()
    for question, response in QUESTIONS[(store, language)]:
        answer = said(live_stack.say(question, sender=sender, metadata={"store": store}))
        assert answer == expected_text(response, store, language), question


def test_the_same_question_differs_between_the_two_shops(live_stack: LiveStack) -> None:
    om = said(live_stack.say("What's your warranty?", metadata={"store": "om-system"}))
    bt = said(live_stack.say("What's your warranty?", metadata={"store": "btomic"}))
    assert "24" in bt and "24" not in om
    assert "eshop.support@om-digitalsolutions.com" in om


def test_an_unknown_store_falls_back_to_the_default(live_stack: LiveStack) -> None:
    answer = said(
        live_stack.say("Comment je peux joindre votre service client ?", metadata={"store": "nope"})
    )
    assert answer == expected_text("utter_contact_support", "om-system", "fr")


def test_the_language_switch_is_kept_for_the_conversation(live_stack: LiveStack) -> None:
    sender = new_sender()
    meta = {"store": "btomic"}
    live_stack.say("Bonjour, combien de temps prend la livraison ?", sender=sender, metadata=meta)
    switched = said(live_stack.say("in English please", sender=sender, metadata=meta))
    assert switched == " ".join(expected_text_any("utter_language_switched", "en").split())
    # A short ambiguous message keeps the conversation's language.
    answer = said(live_stack.say("Klarna ?", sender=sender, metadata=meta))
    assert expected_text("utter_payment_methods", "btomic", "en") in answer
    tracker = live_stack.tracker(sender)
    assert tracker["slots"]["language"] == "en"


def expected_text_any(response: str, language: str) -> str:
    """A response every shop shares (data/stores/_common/texts.yml)."""
    return render(response, "btomic", normalise_language(language))

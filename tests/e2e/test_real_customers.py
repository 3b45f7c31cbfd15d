"""Real customers' messages end to end: order numbers as they write them.

The real Rasa server, action server and demo orders database (``live_stack``): each message
is written the way customers write (greeting, context, the number in brackets, without the
prefix, "n°", lower case, no separator) and must start the order lookup for the right order:
the bot asks only for the proof, and the proof gives that order's status.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import LiveStack, new_sender, texts

pytestmark = pytest.mark.e2e

OM = {"store": "om-system"}
BT = {"store": "btomic"}
OM_TRACKING = "JD014600003828461025"
BT_TRACKING = "1Z999AA10123456784"
ASKS_NUMBER = ("numéro de votre commande", "quel est son numéro", "order number?")


def said(messages: list[dict[str, Any]]) -> str:
    return " ".join(texts(messages).split())


@pytest.mark.parametrize(
    ("store", "message", "proof", "number", "tracking"),
    [
        # The "Done when" message.
        (
            OM,
            "Bonjour, j'ai commandé il y a 10 jours (commande 104233) et toujours rien, "
            "c'est normal ?",
            "marie.dupont@example.fr",
            "OM-104233",
            OM_TRACKING,
        ),
        (OM, "Où en est ma commande n° 104233 ?", "75011", "OM-104233", OM_TRACKING),
        (OM, "où est ma commande om 104233 svp", "75011", "OM-104233", OM_TRACKING),
        (OM, "Where is my order OM104233?", "75011", "OM-104233", OM_TRACKING),
        (OM, "Where is my order #104233?", "marie.dupont@example.fr", "OM-104233", OM_TRACKING),
        (BT, "Où en est ma commande 200517 ?", "10001", "BT-200517", BT_TRACKING),
        (BT, "Where is my order no. 200517?", "10001", "BT-200517", BT_TRACKING),
        (BT, "Où est ma commande bt200517 ?", "alex.martin@example.com", "BT-200517", BT_TRACKING),
    ],
)
def test_order_numbers_as_customers_write_them_start_the_lookup(
    live_stack: LiveStack,
    store: dict[str, str],
    message: str,
    proof: str,
    number: str,
    tracking: str,
) -> None:
    sender = new_sender()
    ask = said(live_stack.say(message, sender=sender, metadata=store))
    # The lookup has the number: it asks for the proof only.
    assert "postal" in ask or "postcode" in ask, ask
    assert not any(words in ask for words in ASKS_NUMBER), ask
    answer = said(live_stack.say(proof, sender=sender, metadata=store))
    assert number in answer and tracking in answer, answer


def test_digits_of_the_other_shop_find_that_order_and_say_which_shop(
    live_stack: LiveStack,
) -> None:
    # On the BTOMIC widget, digits alone are tried as BT- first, then as the other shop's.
    sender = new_sender()
    said(live_stack.say("Where is my order 104233?", sender=sender, metadata=BT))
    answer = said(live_stack.say("marie.dupont@example.fr", sender=sender, metadata=BT))
    assert "OM-104233" in answer and OM_TRACKING in answer, answer
    assert "OM SYSTEM" in answer, answer


# --- customers who write another language --------------------------------------------------

OTHER_LANGUAGE_LINE = "I speak French and English only, so I'll answer you in English."


def test_a_german_order_question_is_answered_in_english_and_looked_up(
    live_stack: LiveStack,
) -> None:
    sender = new_sender()
    first = live_stack.say("Wo ist meine Bestellung OM-104233?", sender=sender, metadata=OM)
    ask = said(first)
    assert texts(first).split("\n")[0] == OTHER_LANGUAGE_LINE, ask
    # The order number was read: the lookup asks for the proof, in English.
    assert "e-mail address or the postcode" in ask, ask
    answer = said(live_stack.say("marie.dupont@example.fr", sender=sender, metadata=OM))
    assert "Your order OM-104233" in answer and OM_TRACKING in answer, answer


def test_a_spanish_delivery_question_gets_the_english_answer_for_spain(
    live_stack: LiveStack,
) -> None:
    answer = said(live_stack.say("¿Hacen envíos a España?", metadata=OM))
    assert answer.startswith(OTHER_LANGUAGE_LINE), answer
    assert "Spain" in answer and "3 to 4 business days" in answer, answer


def test_an_italian_question_with_nothing_readable_gets_the_contact_route_in_english(
    live_stack: LiveStack,
) -> None:
    answer = said(live_stack.say("Buongiorno, posso pagare con la carta di credito?", metadata=BT))
    assert answer.startswith(OTHER_LANGUAGE_LINE), answer
    assert "service@btomic.com" in answer, answer
    assert "Désolé" not in answer and "Bonjour" not in answer, answer


def test_french_after_another_language_is_answered_in_french_again(live_stack: LiveStack) -> None:
    sender = new_sender()
    said(live_stack.say("¿Hacen envíos a España?", sender=sender, metadata=OM))
    answer = said(
        live_stack.say("Quels moyens de paiement acceptez-vous ?", sender=sender, metadata=OM)
    )
    assert "Vous pouvez payer" in answer, answer

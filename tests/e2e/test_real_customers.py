"""Real customers' messages end to end: order numbers as they write them.

The real Rasa server, action server and demo orders database (``live_stack``): each message
is written the way customers write (greeting, context, the number in brackets, without the
prefix, "n°", lower case, no separator) and must start the order lookup for the right order:
the bot asks only for the proof, and the proof gives that order's status.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
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


# --- two requests in one message ----------------------------------------------------------


def web_chat(live_stack: LiveStack, sender: str, message: str, store: str, language: str) -> str:
    """One message through the gateway's widget route, as the chat widget sends it."""
    response = httpx.post(
        f"{live_stack.gateway_url}/api/chat",
        json={"sender_id": sender, "message": message, "store": store, "language": language},
        timeout=120,
    )
    response.raise_for_status()
    return " ".join(" ".join((m.get("text") or "").split()) for m in response.json()["messages"])


def test_two_requests_in_one_chat_message_get_both_answers(live_stack: LiveStack) -> None:
    sender = uuid.uuid4().hex[:20]
    answer = web_chat(
        live_stack,
        sender,
        "Livrez-vous en Suisse et combien coûte la livraison ?",
        "om-system",
        "fr",
    )
    assert "Oui, nous livrons en Suisse" in answer, answer
    assert "frais d'expédition" in answer, answer  # the shipping-cost answer (FAQ silent)
    assert answer.index("Suisse") < answer.index("frais d'expédition"), answer


def test_an_faq_question_and_an_order_question_get_the_answer_then_the_lookup(
    live_stack: LiveStack,
) -> None:
    sender = uuid.uuid4().hex[:20]
    answer = web_chat(
        live_stack,
        sender,
        "Where is my order OM-104233? And which payment methods do you accept?",
        "om-system",
        "en",
    )
    # The payment answer first, then the lookup's question for the proof (asked last).
    assert "PayPal" in answer, answer
    assert "e-mail address or the postcode" in answer, answer
    assert answer.index("PayPal") < answer.index("e-mail address or the postcode"), answer
    found = web_chat(live_stack, sender, "marie.dupont@example.fr", "om-system", "en")
    assert "OM-104233" in found and OM_TRACKING in found, found


def test_one_request_with_and_is_answered_once(live_stack: LiveStack) -> None:
    sender = uuid.uuid4().hex[:20]
    answer = web_chat(
        live_stack,
        sender,
        "Bonjour, j'ai commandé il y a 10 jours (commande 104233) et toujours rien, c'est normal ?",
        "om-system",
        "fr",
    )
    # Read whole: the lookup asks for the proof once.
    assert answer.count("code postal") == 1, answer


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


def test_a_german_refund_question_looks_up_that_orders_refund(live_stack: LiveStack) -> None:
    # OM-104250 (demo data: delivered to Berlin, returned, refunded with Klarna).
    sender = new_sender()
    first = live_stack.say(
        "Guten Tag, wann bekomme ich meine Rückerstattung für die Bestellung OM-104250?",
        sender=sender,
        metadata=OM,
    )
    ask = said(first)
    assert texts(first).split("\n")[0] == OTHER_LANGUAGE_LINE, ask
    assert "e-mail address or the postcode" in ask, ask
    answer = said(live_stack.say("10115", sender=sender, metadata=OM))
    # The refund of that order, in English: not its delivery status.
    assert "OM-104250" in answer and "Klarna" in answer and "749.00" in answer, answer
    assert "issued" in answer, answer


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

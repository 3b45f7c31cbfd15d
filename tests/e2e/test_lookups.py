"""The lookups end to end: the real Rasa server, action server and demo orders database.

Each test is a conversation through Rasa's REST channel (``live_stack.say``), in French and in
English, checking what the customer reads: order status with tracking, the neutral answer to
a wrong proof, refunds, delivery countries and Klarna, the unhappy paths of the lookup form,
the e-mail channel's proof, and an action server that keeps serving when the orders
database is down.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bot.business_days import add_business_days
from bot.config import PROJECT_ROOT
from bot.db.mailbox import Handoff
from bot.i18n import format_date
from bot.stores import load_store
from devstack.stack import Stack, action_secret, action_service, free_port
from tests.conftest import LiveStack, new_sender, texts

pytestmark = pytest.mark.e2e

OM = {"store": "om-system"}
BT = {"store": "btomic"}
TRACKING = "JD014600003828461025"
NOT_FOUND = {
    "fr": "Je n'ai trouvé aucune commande correspondant à ces informations",
    "en": "I could not find an order matching these details",
}
DEAD_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:1/none"


def said(messages: list[dict[str, Any]]) -> str:
    return " ".join(texts(messages).split())


def buttons(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [button for message in messages for button in message.get("buttons") or []]


# --- order status --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "question"),
    [
        ("fr", "Où en est ma commande OM-104233 ? Mon e-mail est marie.dupont@example.fr"),
        ("en", "Where is my order OM-104233? My e-mail is marie.dupont@example.fr"),
    ],
)
def test_order_status_with_the_right_email(live_stack: LiveStack, language, question) -> None:
    answer = said(live_stack.say(question, metadata=OM))
    assert TRACKING in answer
    assert "https://www.dhl.com/" in answer
    assert ("expédiée" if language == "fr" else "shipped") in answer


@pytest.mark.parametrize(
    ("language", "question"),
    [
        ("fr", "Où en est ma commande OM-104233 ? Mon e-mail est quelquun@example.com"),
        ("en", "Where is my order OM-104233? My e-mail is someone.else@example.com"),
    ],
)
def test_order_status_with_a_wrong_email(live_stack: LiveStack, language, question) -> None:
    answer = said(live_stack.say(question, metadata=OM))
    assert NOT_FOUND[language] in answer
    for detail in (TRACKING, "DHL", "OM-1 Mark II", "expédiée", "shipped"):
        assert detail not in answer


@pytest.mark.parametrize(
    ("language", "first", "proof"),
    [
        ("fr", "où est ma commande OM-104233 ?", "75011"),
        ("en", "where is my order OM-104233?", "75011"),
    ],
)
def test_number_first_then_only_the_proof_is_asked(
    live_stack: LiveStack, language, first, proof
) -> None:
    sender = new_sender()
    ask = said(live_stack.say(first, sender=sender, metadata=OM))
    assert ("code postal" if language == "fr" else "postcode") in ask
    assert ("numéro de votre commande" if language == "fr" else "order number?") not in ask
    assert TRACKING in said(live_stack.say(proof, sender=sender, metadata=OM))


def test_an_order_of_the_other_shop_says_which_shop(live_stack: LiveStack) -> None:
    answer = said(
        live_stack.say("Where is my order OM-104233? marie.dupont@example.fr", metadata=BT)
    )
    assert load_store("om-system").name in answer
    assert TRACKING in answer


@pytest.mark.parametrize(
    ("store", "question", "route", "prefix", "other"),
    [
        ("om-system", "Comment suivre ma commande ?", "MyOMSYSTEM", "OM-123456", "BT-"),
        ("btomic", "How do I track my package?", "Order History", "BT-123456", "OM-"),
    ],
)
def test_a_tracking_question_gets_the_shops_route_then_the_lookup(
    live_stack: LiveStack, store: str, question: str, route: str, prefix: str, other: str
) -> None:
    sender = new_sender()
    metadata = {"store": store}
    first = said(live_stack.say(question, sender=sender, metadata=metadata))
    assert route in first  # the shop's FAQ route first ...
    assert first.index(route) < first.index(prefix)  # ... then the offer, in its own format
    assert other not in first
    number, proof = ("OM-104233", "75011") if store == "om-system" else ("BT-200517", "10001")
    said(live_stack.say(number, sender=sender, metadata=metadata))
    answer = said(live_stack.say(proof, sender=sender, metadata=metadata))
    assert number in answer and "http" in answer  # the lookup went on


# --- refunds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "question", "proof"),
    [
        (
            "fr",
            "Où en est le remboursement de ma commande BT-200530 ?",
            "sophie.bernard@example.fr",
        ),
        ("en", "When will I get my refund for BT-200530?", "sophie.bernard@example.fr"),
    ],
)
def test_btomic_refund_pending_gives_the_window(
    live_stack: LiveStack, language, question, proof
) -> None:
    sender = new_sender()
    said(live_stack.say(question, sender=sender, metadata=BT))
    answer = said(live_stack.say(proof, sender=sender, metadata=BT))
    assert ("5 à 7 jours ouvrables" if language == "fr" else "5 to 7 business days") in answer
    # The demo data received the return yesterday (data/stores/<shop>/demo_orders.yml).
    received = dt.date.today() - dt.timedelta(days=1)
    assert format_date(add_business_days(received, 7), language) in answer
    assert "PayPal" in answer


@pytest.mark.parametrize(
    ("language", "question"),
    [
        ("fr", "Quand vais-je recevoir mon remboursement pour la commande OM-104250 ? 10115"),
        ("en", "When will I be refunded for order OM-104250? Postcode 10115"),
    ],
)
def test_om_refund_issued_with_klarna(live_stack: LiveStack, language, question) -> None:
    answer = said(live_stack.say(question, metadata=OM))
    assert "Klarna" in answer
    assert ("749,00" if language == "fr" else "749.00") in answer
    assert ("effectué" if language == "fr" else "issued") in answer


def test_a_refund_question_after_a_status_reuses_the_verified_order(
    live_stack: LiveStack,
) -> None:
    sender = new_sender()
    first = said(live_stack.say("Where is my order OM-104233? 75011", sender=sender, metadata=OM))
    assert TRACKING in first
    refund = said(live_stack.say("where is my refund?", sender=sender, metadata=OM))
    assert "No return has been recorded for your order OM-104233" in refund
    assert "postcode" not in refund.split("recorded")[0]  # nothing asked again


def test_refund_policy_then_an_order_number(live_stack: LiveStack) -> None:
    sender = new_sender()
    policy = said(live_stack.say("How long does a refund take?", sender=sender, metadata=BT))
    assert "5 to 7 business days" in policy and "order number" in policy
    ask = said(live_stack.say("BT-200530", sender=sender, metadata=BT))
    assert "postcode" in ask
    assert "5 to 7 business days" in said(live_stack.say("69002", sender=sender, metadata=BT))


# --- delivery countries and Klarna ---------------------------------------------------------------


def test_jersey_is_not_delivered_by_om_system(live_stack: LiveStack) -> None:
    answer = said(live_stack.say("Do you deliver to Jersey?", metadata=OM))
    assert answer.startswith("Sorry, we don't deliver to Jersey")


def test_switzerland_is_delivered_by_om_system_with_klarna(live_stack: LiveStack) -> None:
    answer = said(live_stack.say("Livrez-vous en Suisse ?", metadata=OM))
    assert answer.startswith("Oui, nous livrons en Suisse")
    assert "Klarna y est proposé" in answer


def test_klarna_in_switzerland_is_the_payment_answer_plus_klarna(live_stack: LiveStack) -> None:
    answer = said(live_stack.say("Can I pay with Klarna in Switzerland?", metadata=OM))
    assert "PayPal" in answer  # utter_payment_methods
    assert "Yes, Klarna is offered in Switzerland." in answer


# --- human handoff from the web chat -------------------------------------------------------------


def handoffs_of(live_stack: LiveStack, conversation_id: str) -> list[Handoff]:
    engine = create_engine(live_stack.database_url)
    try:
        with Session(engine) as session:
            query = select(Handoff).where(Handoff.conversation_id == conversation_id)
            return list(session.scalars(query).all())
    finally:
        engine.dispose()


def web_chat(live_stack: LiveStack, sender: str, message: str, store: str) -> str:
    """One message through the gateway's widget route, as the chat widget sends it."""
    response = httpx.post(
        f"{live_stack.gateway_url}/api/chat",
        json={"sender_id": sender, "message": message, "store": store, "language": "fr"},
        timeout=60,
    )
    response.raise_for_status()
    return " ".join(m.get("text") or "" for m in response.json()["messages"])


def test_a_web_handoff_asks_for_an_address_and_stores_it(live_stack: LiveStack) -> None:
    sender = uuid.uuid4().hex[:20]
    asked = web_chat(live_stack, sender, "Je voudrais parler à un conseiller", "btomic")
    assert "indiquez-moi votre adresse e-mail" in asked
    assert "service@btomic.com" in asked  # ... or the route to write in
    assert "reviendra vers vous" not in asked
    invalid = web_chat(live_stack, sender, "jeanne.martin@example", "btomic")
    assert "ne semble pas valide" in invalid
    saved = web_chat(live_stack, sender, "jeanne.martin@example.fr", "btomic")
    assert "jeanne.martin@example.fr" in saved
    (row,) = handoffs_of(live_stack, f"web-btomic-{sender}")
    assert row.channel.value == "web"
    assert row.customer_address == "jeanne.martin@example.fr"
    assert row.address_source is not None and row.address_source.value == "customer"
    assert row.language == "fr"


def test_a_web_handoff_without_an_address_gives_the_route(live_stack: LiveStack) -> None:
    sender = uuid.uuid4().hex[:20]
    web_chat(live_stack, sender, "I'd like to talk to a person please", "om-system")
    declined = web_chat(live_stack, sender, "no thanks", "om-system")
    assert "eshop.support@om-digitalsolutions.com" in declined
    (row,) = handoffs_of(live_stack, f"web-om-system-{sender}")
    assert row.customer_address is None


# --- the form's unhappy paths --------------------------------------------------------------------


def test_three_failures_stop_the_lookup_and_offer_a_person(live_stack: LiveStack) -> None:
    sender = new_sender()
    for attempt in range(1, 4):
        messages = live_stack.say(
            f"Where is my order OM-104233? My e-mail is guess{attempt}@example.com",
            sender=sender,
            metadata=OM,
        )
        assert NOT_FOUND["en"] in said(messages)
    assert {"title": "Talk to a person", "payload": "/human_handoff"} in buttons(messages)
    # The lookup stays locked: even the right proof is not checked any more.
    again = said(
        live_stack.say(
            "Where is my order OM-104233? marie.dupont@example.fr", sender=sender, metadata=OM
        )
    )
    assert TRACKING not in again
    handed_over = said(live_stack.say("/human_handoff", sender=sender, metadata=OM))
    # The REST channel knows no address: no promise of a reply, a request for an address.
    assert "passed this conversation on" in handed_over
    assert "please give me your e-mail address" in handed_over
    rows = handoffs_of(live_stack, sender)
    assert [(row.reason, row.store_id) for row in rows] == [("lookup_failed", "om-system")]


@pytest.mark.parametrize(
    ("language", "first", "stop"),
    [("fr", "où est ma commande ?", "laisse tomber"), ("en", "where is my order?", "never mind")],
)
def test_stop_in_the_middle_of_the_lookup(live_stack: LiveStack, language, first, stop) -> None:
    sender = new_sender()
    said(live_stack.say(first, sender=sender, metadata=OM))
    stopped = said(live_stack.say(stop, sender=sender, metadata=OM))
    assert ("arrêté la recherche" if language == "fr" else "stopped the lookup") in stopped
    assert live_stack.tracker(sender)["active_loop"] in ({}, None, {"name": None})


def test_a_faq_question_in_the_middle_then_the_lookup_resumes(live_stack: LiveStack) -> None:
    sender = new_sender()
    said(live_stack.say("where is my order?", sender=sender, metadata=OM))
    answer = said(live_stack.say("Will I have to pay customs duties?", sender=sender, metadata=OM))
    assert "customs" in answer.lower()  # the FAQ answer ...
    assert "order number" in answer  # ... then the form asks again
    said(live_stack.say("OM-104233", sender=sender, metadata=OM))
    assert TRACKING in said(live_stack.say("75011", sender=sender, metadata=OM))


@pytest.mark.parametrize(
    ("language", "question"),
    [
        ("fr", "Bonjour, où en est ma commande OM-104233 ? Merci"),
        ("en", "Hello, where is my order OM-104233? Thanks"),
    ],
)
def test_the_email_sender_is_the_proof(live_stack: LiveStack, language, question) -> None:
    metadata = {
        "store": "om-system",
        "channel": "email",
        "sender_email": "marie.dupont@example.fr",
    }
    assert TRACKING in said(live_stack.say(question, metadata=metadata))
    stranger = {**metadata, "sender_email": "stranger@example.com"}
    assert NOT_FOUND[language] in said(live_stack.say(question, metadata=stranger))


# --- failures ------------------------------------------------------------------------------------


def test_the_action_server_log_holds_no_order_details(live_stack: LiveStack) -> None:
    # After the conversations above: proofs and order details never reach the log (the order
    # numbers may, at INFO, when the process logs at that level).
    sender = new_sender()
    live_stack.say("Where is my order OM-104233? marie.dupont@example.fr", sender=sender)
    (action_server,) = [s for s in live_stack.stack.services if s.name == "action server"]
    assert action_server.log_path is not None
    log = action_server.log_path.read_text("utf-8", errors="replace")
    assert "Action endpoint is up and running" in log
    for detail in ("marie.dupont", "sophie.bernard", "75011", "69002", TRACKING, "Klarna"):
        assert detail not in log


def action_call(next_action: str, slots: dict[str, Any], text: str) -> dict[str, Any]:
    """A Rasa 3.6 action call (POST /webhook), as the Rasa server sends it."""
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text("utf-8"))
    sender = f"failure-{uuid.uuid4().hex[:8]}"
    latest = {
        "intent": {"name": "order_status", "confidence": 0.95},
        "entities": [],
        "text": text,
        "message_id": uuid.uuid4().hex,
        "metadata": {"store": slots.get("store")},
        "intent_ranking": [{"name": "order_status", "confidence": 0.95}],
    }
    return {
        "next_action": next_action,
        "sender_id": sender,
        "tracker": {
            "sender_id": sender,
            "slots": slots,
            "latest_message": latest,
            "latest_event_time": 1_700_000_000.0,
            "followup_action": None,
            "paused": False,
            "events": [
                {"event": "action", "name": "action_session_start", "timestamp": 1_700_000_000.0},
                {"event": "session_started", "timestamp": 1_700_000_000.0},
                {"event": "action", "name": "action_listen", "timestamp": 1_700_000_000.0},
                {
                    "event": "user",
                    "text": text,
                    "parse_data": latest,
                    "input_channel": "rest",
                    "timestamp": 1_700_000_000.0,
                },
            ],
            "latest_input_channel": "rest",
            "active_loop": {},
            "latest_action": {"action_name": "order_lookup_form"},
            "latest_action_name": "order_lookup_form",
        },
        "domain": domain,
        "version": "3.6.21",
    }


def test_database_down_gets_an_apology_and_the_server_keeps_serving(tmp_path: Path) -> None:
    port, secret = free_port(), action_secret()
    stack = Stack(
        [action_service(port=port, secret=secret, env={"DATABASE_URL": DEAD_POSTGRES_URL})],
        log_dir=tmp_path / "log",
    )
    # Rasa's calls carry the action server's secret (bot/action_server.py).
    headers = {"X-Action-Secret": secret}
    with stack.running():
        base = f"http://127.0.0.1:{port}"
        call = action_call(
            "action_answer_order_lookup",
            {
                "store": "btomic",
                "language": "en",
                "order_number": "BT-200530",
                "verified_order": "BT-200530",
                # The answer checks this proof against the database again: which is down.
                "verified_proof": "69002",
                "lookup_purpose": "refund",
            },
            "BT-200530",
        )
        response = httpx.post(f"{base}/webhook", json=call, headers=headers, timeout=60)
        assert response.status_code == 200, response.text
        (message,) = response.json()["responses"]
        assert message["text"].startswith("Sorry, a technical problem")
        assert load_store("btomic").contact.email in message["text"]
        assert httpx.get(f"{base}/health", timeout=10).json() == {"status": "ok"}
        # And again, in French, through the form validation.
        call = action_call(
            "validate_order_lookup_form",
            {"store": "om-system", "language": "fr", "order_number": "OM-104233"},
            "75011",
        )
        call["tracker"]["latest_message"]["entities"] = [
            {"entity": "postcode", "value": "75011", "start": 0, "end": 5}
        ]
        response = httpx.post(f"{base}/webhook", json=call, headers=headers, timeout=60)
        assert response.status_code == 200, response.text
        (message,) = response.json()["responses"]
        assert message["text"].startswith("Désolé")
        assert load_store("om-system").contact.email in message["text"]
        assert httpx.get(f"{base}/health", timeout=10).json() == {"status": "ok"}
    log = next((tmp_path / "log").glob("action-server-*.log")).read_text("utf-8")
    assert "Traceback" in log and "OperationalError" in log
    assert "75011" not in log

"""The order lookup form's validation and its submit action, against the real demo database."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT

from actions.orders import ActionAnswerOrderLookup, ValidateOrderLookupForm
from bot.replies import contact_route
from bot.stores import load_store
from tests.actions.conftest import (
    DEAD_POSTGRES_URL,
    entity,
    make_tracker,
    responses,
    slot_events,
    texts,
    use_database,
)

MARIE = "marie.dupont@example.fr"
FORM = "order_lookup_form"


async def validate(
    dispatcher: CollectingDispatcher, domain: dict[str, Any], **tracker_args: Any
) -> list[dict[str, Any]]:
    tracker = make_tracker(active_loop=FORM, **tracker_args)
    events: list[dict[str, Any]] = await ValidateOrderLookupForm().run(dispatcher, tracker, domain)
    return events


async def answer(
    dispatcher: CollectingDispatcher, domain: dict[str, Any], **slots: Any
) -> list[dict[str, Any]]:
    tracker = make_tracker(slots)
    events: list[dict[str, Any]] = await ActionAnswerOrderLookup().run(dispatcher, tracker, domain)
    return events


# --- validation: identification -----------------------------------------------------------------


async def test_number_and_email_of_the_first_message_verify_at_once(dispatcher, domain) -> None:
    events = await validate(
        dispatcher,
        domain,
        text=f"where is OM-104233? {MARIE}",
        intent="order_status",
        entities=[entity("order_number", "OM-104233"), entity("email", MARIE)],
        candidates={"order_number": "OM-104233"},
    )
    slots = slot_events(events)
    assert slots["order_number"] == "OM-104233"
    assert slots["order_proof"] == MARIE
    assert slots["verified_order"] == "OM-104233"
    assert "lookup_failures" not in slots
    assert dispatcher.messages == []


async def test_digits_alone_and_postcode(dispatcher, domain) -> None:
    events = await validate(
        dispatcher,
        domain,
        text="75011",
        entities=[entity("postcode", "75011")],
        slots={"order_number": "104233", "requested_slot": "order_proof"},
    )
    assert slot_events(events)["verified_order"] == "OM-104233"


async def test_wrong_proof_and_wrong_number_look_the_same(domain) -> None:
    wrong_proof, wrong_number = CollectingDispatcher(), CollectingDispatcher()
    events_proof = await validate(
        wrong_proof,
        domain,
        entities=[entity("email", "someone.else@example.com")],
        slots={"order_number": "OM-104233"},
    )
    events_number = await validate(
        wrong_number,
        domain,
        entities=[entity("email", MARIE)],
        slots={"order_number": "OM-999999"},
    )
    assert responses(wrong_proof) == responses(wrong_number) == ["utter_order_not_found"]
    assert texts(wrong_proof) == texts(wrong_number) == ""
    neutral = {
        "lookup_failures": 1.0,
        "order_number": None,
        "order_proof": None,
    }
    for events in (events_proof, events_number):
        slots = slot_events(events)
        assert {key: slots[key] for key in neutral} == neutral
        assert "verified_order" not in slots


async def test_third_failure_locks_the_lookup_and_ends_the_form(dispatcher, domain) -> None:
    events = await validate(
        dispatcher,
        domain,
        entities=[entity("postcode", "99999")],
        slots={"order_number": "OM-104233", "lookup_failures": 2.0},
    )
    slots = slot_events(events)
    assert slots["lookup_failures"] == 3.0
    assert slots["lookup_locked"] is True
    assert slots[REQUESTED_SLOT] is None
    assert responses(dispatcher) == ["utter_order_not_found"]


async def test_locked_lookup_asks_nothing_and_checks_nothing(dispatcher, domain) -> None:
    events = await validate(
        dispatcher,
        domain,
        entities=[entity("email", MARIE)],
        candidates={"order_number": "OM-104233"},
        slots={"lookup_locked": True, "lookup_failures": 3.0},
    )
    slots = slot_events(events)
    assert "verified_order" not in slots
    assert slots[REQUESTED_SLOT] is None
    assert dispatcher.messages == []


async def test_email_channel_sender_is_the_proof(dispatcher, domain) -> None:
    events = await validate(
        dispatcher,
        domain,
        text="Where is my order OM-104233?",
        intent="order_status",
        entities=[entity("order_number", "OM-104233")],
        candidates={"order_number": "OM-104233"},
        metadata={"channel": "email", "sender_email": "Marie.Dupont@Example.fr"},
    )
    slots = slot_events(events)
    assert slots["order_proof"] == MARIE
    assert slots["verified_order"] == "OM-104233"


async def test_sender_address_is_not_a_proof_on_the_web(dispatcher, domain) -> None:
    events = await validate(
        dispatcher,
        domain,
        candidates={"order_number": "OM-104233"},
        metadata={"channel": "web", "sender_email": MARIE},
    )
    assert "verified_order" not in slot_events(events)


async def test_the_same_verified_order_needs_no_new_proof(dispatcher, domain) -> None:
    events = await validate(
        dispatcher,
        domain,
        intent="refund_status",
        candidates={"order_number": "OM-104233"},
        slots={"verified_order": "OM-104233", "verified_proof": MARIE},
    )
    assert slot_events(events)["verified_order"] == "OM-104233"
    # Another order still needs its own proof.
    other = CollectingDispatcher()
    events = await validate(
        other,
        domain,
        candidates={"order_number": "OM-104250"},
        slots={"verified_order": "OM-104233", "verified_proof": MARIE},
    )
    assert "order_proof" not in slot_events(events)


async def test_unrelated_message_sets_nothing_so_the_form_steps_aside(dispatcher, domain) -> None:
    # Rasa rejects the form when nothing is set, and the FAQ rule answers.
    events = await validate(
        dispatcher,
        domain,
        text="can I pay with PayPal?",
        intent="payment_methods",
        slots={"order_number": "OM-104233", "requested_slot": "order_proof"},
    )
    assert events == []
    assert dispatcher.messages == []


async def test_garbage_number_is_refused_with_a_hint(dispatcher, domain) -> None:
    events = await validate(dispatcher, domain, candidates={"order_number": "12-34"})
    assert slot_events(events)["order_number"] is None
    assert responses(dispatcher) == ["utter_invalid_order_number"]


async def test_proof_is_never_logged_above_debug(dispatcher, domain, caplog) -> None:
    caplog.set_level(logging.INFO)
    await validate(
        dispatcher,
        domain,
        entities=[entity("email", "wrong.guess@example.com")],
        slots={"order_number": "OM-104233"},
    )
    await validate(
        CollectingDispatcher(),
        domain,
        entities=[entity("email", MARIE)],
        slots={"order_number": "OM-104233"},
    )
    assert "OM-104233" in caplog.text
    logged = caplog.text.lower()
    for secret in ("wrong.guess", "marie", "75011", "dhl", "jd0146"):
        assert secret not in logged


# --- the answer ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_status_answer_shows_tracking(dispatcher, domain, language) -> None:
    events = await answer(
        dispatcher,
        domain,
        language=language,
        order_number="OM-104233",
        order_proof=MARIE,
        verified_order="OM-104233",
        verified_proof=MARIE,
        lookup_purpose="status",
    )
    text = texts(dispatcher)
    assert "JD014600003828461025" in text
    assert "https://www.dhl.com/" in text
    assert ("expédiée" if language == "fr" else "shipped") in text
    assert events == [SlotSet("order_number", None), SlotSet("order_proof", None)]


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_refund_answers(dispatcher, domain, language) -> None:
    await answer(
        dispatcher,
        domain,
        language=language,
        order_number="OM-104250",
        verified_order="OM-104250",
        verified_proof="lukas.becker@example.de",
        lookup_purpose="refund",
    )
    await answer(
        dispatcher,
        domain,
        store="btomic",
        language=language,
        order_number="BT-200530",
        verified_order="BT-200530",
        verified_proof="69002",
        lookup_purpose="refund",
    )
    issued, pending = (m["text"] for m in dispatcher.messages)
    assert "Klarna" in issued and ("749,00" in issued or "749.00" in issued)
    assert ("5 à 7 jours ouvrables" if language == "fr" else "5 to 7 business days") in pending
    assert "PayPal" in pending


async def test_other_store_order_names_its_shop(dispatcher, domain) -> None:
    await answer(
        dispatcher,
        domain,
        store="btomic",
        order_number="OM-104233",
        verified_order="OM-104233",
        verified_proof=MARIE,
        lookup_purpose="status",
    )
    assert load_store("om-system").name in texts(dispatcher)


async def test_unverified_end_of_form_says_nothing(dispatcher, domain) -> None:
    events = await answer(dispatcher, domain, order_number=None, verified_order="OM-104233")
    assert dispatcher.messages == []
    assert slot_events(events) == {"order_number": None, "order_proof": None}


async def test_locked_answer_offers_a_person(dispatcher, domain) -> None:
    events = await answer(dispatcher, domain, lookup_locked=True, lookup_failures=3.0)
    (message,) = dispatcher.messages
    assert message["buttons"] == [{"title": "Talk to a person", "payload": "/human_handoff"}]
    assert load_store("om-system").contact.email in message["text"]
    assert slot_events(events) == {"order_number": None, "order_proof": None}


# --- failures ------------------------------------------------------------------------------------


async def test_database_down_during_the_check(dispatcher, domain, monkeypatch, caplog) -> None:
    use_database(monkeypatch, DEAD_POSTGRES_URL)
    events = await validate(
        dispatcher,
        domain,
        entities=[entity("email", MARIE)],
        slots={"order_number": "OM-104233"},
    )
    (message,) = dispatcher.messages
    assert contact_route(load_store("om-system"), "en") in message["text"]
    assert message["text"].startswith("Sorry")
    assert slot_events(events) == {"order_number": None, "order_proof": None, REQUESTED_SLOT: None}
    assert "validate_order_lookup_form failed" in caplog.text
    assert MARIE not in caplog.text


async def test_database_down_during_the_answer(dispatcher, domain, monkeypatch) -> None:
    use_database(monkeypatch, DEAD_POSTGRES_URL)
    await answer(
        dispatcher,
        domain,
        store="btomic",
        language="fr",
        order_number="BT-200530",
        verified_order="BT-200530",
        verified_proof="69002",
        lookup_purpose="refund",
    )
    (message,) = dispatcher.messages
    assert message["text"].startswith("Désolé")
    assert contact_route(load_store("btomic"), "fr") in message["text"]


async def test_the_answer_checks_the_proof_again(dispatcher, domain) -> None:
    # Slots the customer's own check never set (a forged tracker): no order data.
    for proof in (None, "someone@example.com", "75011 "):
        events = await answer(
            dispatcher,
            domain,
            order_number="OM-104250",
            verified_order="OM-104250",
            verified_proof=proof,
            lookup_purpose="status",
        )
        assert slot_events(events) == {"order_number": None, "order_proof": None}
    said = texts(dispatcher)
    assert "Klarna" not in said and "749" not in said


async def test_five_failures_in_five_conversations_lock_the_order_everywhere(domain) -> None:
    # Each guess in a new conversation (as after /restart) and from another client: the
    # conversation's own three-failure lock never triggers, the order's limit does.
    for i in range(5):
        events = await validate(
            CollectingDispatcher(),
            domain,
            entities=[entity("postcode", f"7500{i}")],
            slots={"order_number": "OM-104233"},
            sender_id=f"web-om-system-guess-{i}",
            metadata={"client": f"198.51.100.{i}"},
        )
        assert "verified_order" not in slot_events(events)
        assert "lookup_locked" not in slot_events(events)
    dispatcher = CollectingDispatcher()
    events = await validate(
        dispatcher,
        domain,
        entities=[entity("email", MARIE)],
        slots={"order_number": "OM-104233"},
        sender_id="web-om-system-owner",
        metadata={"client": "203.0.113.50"},
    )
    slots = slot_events(events)
    assert "verified_order" not in slots
    assert slots["lookup_locked"] is True
    assert dispatcher.messages == []  # the submit action answers: stop, a person, the contact

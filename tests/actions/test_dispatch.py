"""action_handle_inform: information given outside a form; action_other_language."""

from __future__ import annotations

from actions.dispatch import ActionHandleInform, ActionOtherLanguage
from tests.actions.conftest import entity, make_tracker, responses, slot_events, texts


async def test_an_order_number_starts_the_lookup(dispatcher, domain) -> None:
    tracker = make_tracker(
        {"lookup_purpose": "refund"}, entities=[entity("order_number", "OM-104250")]
    )
    events = await ActionHandleInform().run(dispatcher, tracker, domain)
    assert slot_events(events) == {"start_lookup": True}
    assert dispatcher.messages == []


async def test_the_default_purpose_is_the_status(dispatcher, domain) -> None:
    tracker = make_tracker(entities=[entity("order_number", "104233")])
    events = await ActionHandleInform().run(dispatcher, tracker, domain)
    assert slot_events(events) == {"start_lookup": True, "lookup_purpose": "status"}


async def test_a_country_gets_the_delivery_answer(dispatcher, domain) -> None:
    tracker = make_tracker(entities=[entity("country", "IM")])
    events = await ActionHandleInform().run(dispatcher, tracker, domain)
    assert slot_events(events) == {"start_lookup": False}
    assert "Isle of Man" in texts(dispatcher)


async def test_nothing_usable(dispatcher, domain) -> None:
    events = await ActionHandleInform().run(dispatcher, make_tracker(text="hmm"), domain)
    assert slot_events(events) == {"start_lookup": False}
    assert responses(dispatcher) == ["utter_default"]


async def test_another_language_says_so_then_starts_the_lookup(dispatcher, domain) -> None:
    tracker = make_tracker(
        {"language": "en"},
        text="Wo ist meine Bestellung OM-104233?",
        entities=[entity("order_number", "OM-104233")],
    )
    events = await ActionOtherLanguage().run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_other_language"]
    assert slot_events(events) == {"start_lookup": True, "lookup_purpose": "status"}


async def test_another_language_asking_for_a_refund_looks_up_the_refund(dispatcher, domain) -> None:
    tracker = make_tracker(
        {"language": "en", "lookup_purpose": "status"},
        text="Wann bekomme ich meine Rückerstattung für die Bestellung OM-104250?",
        entities=[entity("order_number", "OM-104250")],
    )
    events = await ActionOtherLanguage().run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_other_language"]
    assert slot_events(events) == {"start_lookup": True, "lookup_purpose": "refund"}


async def test_another_language_without_a_refund_word_looks_up_the_status(
    dispatcher, domain
) -> None:
    # An earlier refund question does not make a later "where is it?" a refund lookup.
    tracker = make_tracker(
        {"language": "en", "lookup_purpose": "refund"},
        text="¿Dónde está mi pedido OM-104233?",
        entities=[entity("order_number", "OM-104233")],
    )
    events = await ActionOtherLanguage().run(dispatcher, tracker, domain)
    assert slot_events(events) == {"start_lookup": True, "lookup_purpose": "status"}


async def test_another_language_naming_a_country_gets_the_english_answer(
    dispatcher, domain
) -> None:
    tracker = make_tracker(
        {"language": "en"}, text="¿Hacen envíos a España?", entities=[entity("country", "ES")]
    )
    events = await ActionOtherLanguage().run(dispatcher, tracker, domain)
    assert responses(dispatcher)[0] == "utter_other_language"
    assert "Spain" in texts(dispatcher)
    assert slot_events(events) == {"start_lookup": False}


async def test_another_language_with_nothing_readable_asks_to_rephrase(dispatcher, domain) -> None:
    tracker = make_tracker({"language": "en"}, text="Posso pagare con la carta?")
    events = await ActionOtherLanguage().run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_other_language", "utter_default"]
    assert slot_events(events) == {"start_lookup": False}

"""action_delivery_countries and action_payment_methods (Klarna per country)."""

from __future__ import annotations

from typing import Any

import pytest

from actions.delivery import ActionDeliveryCountries
from actions.payment import ActionPaymentMethods
from bot.countries import country_name
from bot.stores import load_store
from tests.actions.conftest import entity, make_tracker, responses, texts


async def deliver(dispatcher, domain: dict[str, Any], **args: Any) -> list[dict[str, Any]]:
    tracker = make_tracker(intent="delivery_countries", **args)
    events: list[dict[str, Any]] = await ActionDeliveryCountries().run(dispatcher, tracker, domain)
    return events


async def test_jersey_is_not_delivered_by_om_system(dispatcher, domain) -> None:
    assert await deliver(dispatcher, domain, entities=[entity("country", "JE")]) == []
    assert texts(dispatcher).startswith("Sorry, we don't deliver to Jersey")


async def test_switzerland_is_delivered_with_klarna_in_french(dispatcher, domain) -> None:
    await deliver(dispatcher, domain, slots={"language": "fr"}, entities=[entity("country", "CH")])
    text = texts(dispatcher)
    assert text.startswith("Oui, nous livrons en Suisse")
    assert "Klarna y est proposé" in text


async def test_a_uk_postcode_alone_is_checked_against_the_exclusions(dispatcher, domain) -> None:
    await deliver(dispatcher, domain, entities=[entity("postcode", "EH1 1YZ")])
    assert "Scotland" in texts(dispatcher)


async def test_several_countries_get_one_answer_each(dispatcher, domain) -> None:
    await deliver(
        dispatcher, domain, entities=[entity("country", "DE"), entity("country", "GB-NIR")]
    )
    first, second = (m["text"] for m in dispatcher.messages)
    assert first.startswith("Yes") and second.startswith("Sorry")


@pytest.mark.parametrize("store", ["om-system", "btomic"])
async def test_no_country_gives_the_store_area(dispatcher, domain, store) -> None:
    await deliver(dispatcher, domain, slots={"store": store})
    text = texts(dispatcher)
    policy = load_store(store)
    if policy.delivery.countries is None:
        # btomic lists no country: no promise, the route to confirm, the delays and threshold.
        assert "worldwide" not in text and "$50" in text
        assert "doesn't give a list of the countries" in text
        assert policy.contact.email in text
    else:
        assert all(country_name(c, "en") in text for c in policy.delivery.countries or ())


async def payment(dispatcher, domain: dict[str, Any], **args: Any) -> None:
    tracker = make_tracker(intent="payment_methods", **args)
    assert await ActionPaymentMethods().run(dispatcher, tracker, domain) == []


async def test_payment_methods_without_a_country_is_the_faq_answer(dispatcher, domain) -> None:
    await payment(dispatcher, domain, text="how can I pay?")
    assert responses(dispatcher) == ["utter_payment_methods"]
    assert len(dispatcher.messages) == 1


async def test_klarna_in_switzerland(dispatcher, domain) -> None:
    await payment(
        dispatcher, domain, text="Klarna in Switzerland?", entities=[entity("country", "CH")]
    )
    assert responses(dispatcher) == ["utter_payment_methods"]
    assert dispatcher.messages[1]["text"] == "Yes, Klarna is offered in Switzerland."


async def test_klarna_at_btomic_is_not_documented(dispatcher, domain) -> None:
    await payment(
        dispatcher,
        domain,
        slots={"store": "btomic", "language": "fr"},
        entities=[entity("country", "CH")],
    )
    klarna = dispatcher.messages[1]["text"]
    assert "ne fait pas partie des moyens de paiement" in klarna
    assert load_store("btomic").contact.email in klarna

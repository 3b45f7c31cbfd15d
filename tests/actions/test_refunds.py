"""action_refund_status: the lookup when there is an order, the general policy otherwise."""

from __future__ import annotations

from typing import Any

from actions.refunds import ActionRefundStatus
from bot.stores import load_store
from tests.actions.conftest import entity, make_tracker, slot_events, texts


async def run(dispatcher, domain: dict[str, Any], **args: Any) -> dict[str, Any]:
    tracker = make_tracker(intent="refund_status", **args)
    return slot_events(await ActionRefundStatus().run(dispatcher, tracker, domain))


async def test_an_order_number_starts_the_lookup(dispatcher, domain) -> None:
    slots = await run(
        dispatcher,
        domain,
        entities=[entity("order_number", "BT-200530")],
        slots={"order_number": "BT-200530", "lookup_purpose": "refund"},
    )
    assert slots == {"start_lookup": True}
    assert dispatcher.messages == []


async def test_the_order_verified_earlier_is_looked_up_again(dispatcher, domain) -> None:
    slots = await run(dispatcher, domain, slots={"verified_order": "OM-104233"})
    assert slots == {"order_number": "OM-104233", "start_lookup": True}


async def test_without_an_order_the_policy_and_an_offer(dispatcher, domain) -> None:
    slots = await run(dispatcher, domain, slots={"store": "btomic", "language": "fr"})
    assert slots == {"start_lookup": False}
    text = texts(dispatcher)
    assert "5 à 7 jours ouvrables" in text
    assert "numéro de commande" in text


async def test_om_system_policy_is_honest_about_the_missing_delay(dispatcher, domain) -> None:
    await run(dispatcher, domain)
    text = texts(dispatcher)
    assert "so I'd rather not guess" in text
    assert load_store("om-system").contact.email in text


async def test_no_offer_once_the_lookup_is_locked(dispatcher, domain) -> None:
    slots = await run(
        dispatcher, domain, slots={"lookup_locked": True, "verified_order": "OM-104233"}
    )
    assert slots == {"start_lookup": False}
    assert "order number" not in texts(dispatcher)

"""The action package as rasa-sdk loads it: registration, the version warning, failures."""

from __future__ import annotations

import inspect
import warnings

import pytest
from rasa_sdk import utils
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher

import actions  # noqa: F401  (installs the warning filter)
from actions._base import ShopAction, response_text, run_guarded
from bot.replies import technical_problem
from tests.actions.conftest import make_tracker

EXPECTED_ACTIONS = {
    "validate_order_lookup_form",
    "action_answer_order_lookup",
    "action_refund_status",
    "action_delivery_countries",
    "action_payment_methods",
    "action_human_handoff",
    "action_save_handoff_email",
    "action_clarify",
    "action_handle_inform",
    "action_ask_order_number",
    "action_other_language",
    "action_answer_faq",
}


def test_rasa_sdk_registers_every_domain_action(domain) -> None:
    executor = ActionExecutor()
    executor.register_package("actions")
    assert set(executor.actions) == EXPECTED_ACTIONS
    assert set(domain["actions"]) >= EXPECTED_ACTIONS
    assert inspect.isabstract(ShopAction)


def test_only_the_rasa_3_6_version_warning_is_silenced() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        import importlib

        importlib.reload(actions)
        utils.check_version_compatibility("3.6.21")
        assert caught == []
        utils.check_version_compatibility("3.7.0")
    assert len(caught) == 1 and "might not be compatible" in str(caught[0].message)


def test_response_text_follows_the_language() -> None:
    assert response_text("btomic", "utter_topic_warranty", "fr") == "Garantie"
    assert response_text("btomic", "utter_topic_warranty", "en") == "Warranty"
    assert response_text("btomic", "utter_nothing_like_this", "en") is None


async def test_a_failing_body_is_answered_and_logged(caplog) -> None:
    dispatcher = CollectingDispatcher()

    async def body() -> list[dict[str, object]]:
        dispatcher.utter_message(text="half an answer")  # withdrawn: one clear message
        raise RuntimeError("boom")

    tracker = make_tracker({"store": "btomic", "language": "fr"})
    events = await run_guarded("action_x", dispatcher, tracker, body, failure_events=[{"x": 1}])
    assert events == [{"x": 1}]
    (message,) = dispatcher.messages
    assert message["text"].startswith("Désolé") and "service@btomic.com" in message["text"]
    assert "action_x failed" in caplog.text and "RuntimeError: boom" in caplog.text


@pytest.mark.parametrize("store", [None, "no-such-shop"])
async def test_an_unknown_store_is_an_error_answered_without_a_shop(store, caplog) -> None:
    # The store is checked where the message entered (bot.shops.resolve_store); the actions
    # trust the slot and never answer for another shop. A slot that is not a shop fails the
    # action clearly (logged) and the customer gets the apology that names no shop.
    dispatcher = CollectingDispatcher()
    ran = []

    class Probe(ShopAction):
        def name(self) -> str:
            return "action_probe"

        async def act(self, dispatcher, tracker, domain, conversation):
            ran.append(conversation)
            return []

    tracker = make_tracker({"store": store, "language": "en"})
    assert await Probe().run(dispatcher, tracker, {}) == []
    assert ran == []
    (message,) = dispatcher.messages
    assert message["text"] == technical_problem(None, "en")
    assert "the shop's customer service" in message["text"] and "@" not in message["text"]
    assert "action_probe failed" in caplog.text
    assert f"the conversation's store {store!r} is not a shop" in caplog.text

"""Refund questions: the refund timeline of one order, or the store's general refund policy.

With an order number (or an order already verified in this conversation) the question goes
through the same identification as an order status: ``start_lookup`` is set and a rule runs
``order_lookup_form`` next, whose submit action answers with the refund timeline
(``lookup_purpose`` is ``refund``, from the intent). Without one, the store's general refund
policy is answered and a lookup is offered; an order number given next starts it
(``action_handle_inform``), and so does "yes" (a rule).
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions._base import (
    LOOKUP_LOCKED,
    ORDER_NUMBER,
    START_LOOKUP,
    VERIFIED_ORDER,
    Conversation,
    ShopAction,
    latest_entity_values,
)
from bot.refunds import refund_policy
from bot.replies import refund_policy_answer


class ActionRefundStatus(ShopAction):
    """Routes a refund question to the order lookup or answers the general policy."""

    def name(self) -> str:
        """The action name used in rules.yml."""
        return "action_refund_status"

    async def act(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        conversation: Conversation,
    ) -> list[EventType]:
        """Sets ``start_lookup``; answers the refund policy when there is nothing to look up."""
        if latest_entity_values(tracker, "order_number"):
            # The `order_number` slot already holds it (from_entity mapping).
            return [SlotSet(START_LOOKUP, True)]
        verified = tracker.get_slot(VERIFIED_ORDER)
        if verified and not tracker.get_slot(LOOKUP_LOCKED):
            # "And my refund?" after a status answer: the same order, already proved.
            return [SlotSet(ORDER_NUMBER, verified), SlotSet(START_LOOKUP, True)]
        policy = conversation.policy
        dispatcher.utter_message(
            text=refund_policy_answer(
                refund_policy(policy),
                policy,
                conversation.lang,
                offer_lookup=not tracker.get_slot(LOOKUP_LOCKED),
            )
        )
        return [SlotSet(START_LOOKUP, False)]

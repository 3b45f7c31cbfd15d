"""How the order lookup asks for the order number: the shop's own tracking route first.

"How do I track my order?" and "where is my order?" without a number start the order lookup
form (``order_status``). Its first question is then ``utter_order_tracking``: what the shop's
FAQ says (om-system: the MyOMSYSTEM account, the carrier with the tracking number, then the
shop; btomic: "Mon compte › Historique des commandes", the tracking e-mail and its link), then
the offer to look the order up, with that shop's order-number format. Every other time the
form asks for the number (after a failed check, after a question in the middle of the lookup,
after "yes" to the refund offer) it asks only for the number: ``utter_ask_order_number``.

Rasa's form calls ``action_ask_<slot>`` instead of ``utter_ask_<slot>`` when the domain
declares it (``rasa.core.actions.forms.FormAction._name_of_utterance``).
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions._base import LOOKUP_PURPOSE, Conversation, ShopAction

ORDER_STATUS_INTENT = "order_status"


def said_something_this_turn(tracker: Tracker) -> bool:
    """Whether the bot has already spoken since the customer's latest message."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "bot":
            return True
    return False


def first_tracking_question(tracker: Tracker) -> bool:
    """Whether the form asks for the number right after a status question without one.

    The latest message is an order status question (so not "yes" to the refund offer, a
    proof or a number that failed the check), and nothing has been said in this turn yet (so
    not a repeated question answered first by ``utter_lookup_help``).
    """
    intent = (tracker.latest_message or {}).get("intent") or {}
    return (
        intent.get("name") == ORDER_STATUS_INTENT
        and tracker.get_slot(LOOKUP_PURPOSE) in (None, "status")
        and not said_something_this_turn(tracker)
    )


class ActionAskOrderNumber(ShopAction):
    """The order lookup form's question for ``order_number``."""

    def name(self) -> str:
        """The name Rasa's form looks for (``action_ask_<slot>``)."""
        return "action_ask_order_number"

    async def act(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        conversation: Conversation,
    ) -> list[EventType]:
        """Utters the shop's tracking route with the offer, or just the question."""
        if first_tracking_question(tracker):
            dispatcher.utter_message(response="utter_order_tracking")
        else:
            dispatcher.utter_message(response="utter_ask_order_number")
        return []

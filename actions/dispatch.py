"""Information given outside a form: an order number, an e-mail address, a country.

``inform`` messages inside the order lookup form are the form's business; outside it they
answer an earlier question: an order number (or the e-mail address on an order) after the
refund-policy offer starts the lookup, a country after "which countries do you deliver to?"
gets the delivery answer. ``start_lookup`` tells the rules which way it went.
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions._base import (
    LOOKUP_PURPOSE,
    START_LOOKUP,
    Conversation,
    ShopAction,
    latest_entity_values,
)
from actions.delivery import asked_countries, delivery_replies
from bot.nlu.other_languages import asks_for_refund


class ActionHandleInform(ShopAction):
    """Starts the order lookup, answers a delivery question, or asks to rephrase."""

    def name(self) -> str:
        """The action name used in rules.yml."""
        return "action_handle_inform"

    async def act(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        conversation: Conversation,
    ) -> list[EventType]:
        """Sets ``start_lookup`` and answers what does not need the lookup."""
        if latest_entity_values(tracker, "order_number") or latest_entity_values(tracker, "email"):
            events: list[EventType] = [SlotSet(START_LOOKUP, True)]
            if tracker.get_slot(LOOKUP_PURPOSE) is None:
                events.append(SlotSet(LOOKUP_PURPOSE, "status"))
            return events
        countries, postcode = asked_countries(tracker)
        if countries or postcode:
            for text in delivery_replies(tracker, conversation):
                dispatcher.utter_message(text=text)
        else:
            dispatcher.utter_message(response="utter_default")
        return [SlotSet(START_LOOKUP, False)]


class ActionOtherLanguage(ActionHandleInform):
    """A message written in another language than French and English (German, Spanish...).

    The NLU (``bot.nlu.language.OtherLanguageClassifier``) sets the intent ``other_language``
    and the ``language`` slot to English. The answer is in English: one line saying the
    assistant speaks French and English, then help with what could be read: an order
    number (or the e-mail address on an order) starts the order lookup, a country gets the
    delivery answer; anything else, the request to rephrase with the contact route.
    """

    def name(self) -> str:
        """The action name used in rules.yml."""
        return "action_other_language"

    async def act(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        conversation: Conversation,
    ) -> list[EventType]:
        """Says which languages the assistant speaks, then helps as with ``inform``.

        An order number with a refund word of the customer's language ("Rückerstattung",
        "reembolso", "rimborso"...) looks up that order's refund rather than its delivery.
        """
        dispatcher.utter_message(response="utter_other_language")
        events = await super().act(dispatcher, tracker, domain, conversation)
        if SlotSet(START_LOOKUP, True) in events:
            text = str((tracker.latest_message or {}).get("text") or "")
            purpose = "refund" if asks_for_refund(text) else "status"
            events = [e for e in events if e.get("name") != LOOKUP_PURPOSE]
            events.append(SlotSet(LOOKUP_PURPOSE, purpose))
        return events
